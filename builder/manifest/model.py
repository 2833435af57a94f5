"""The typed manifest model: what the loader produces and every later layer consumes.

No raw dicts travel past the loader; these frozen dataclasses do. Mappings inside them
(args, labels, matrix) are plain dicts by convention never mutated after loading.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple


@dataclass(frozen=True)
class Pos:
    """A place in a file, 1-based, for error messages raised after loading."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class ImageSpec:
    """One buildable (or importable) image after defaults, extends, variants and matrix expansion.

    ``name`` is unique in the manifest and is what selectors, ``depends_on`` and reports use:
    a variant ``v2`` of ``hello`` is ``hello-v2``; a matrix cell of ``app`` is named by the
    image's ``name:`` template or by joining the cell's values with '-' (``app-3.11-slim``).
    """

    name: str
    context: Path                                  # absolute, resolved
    dockerfile: str = "Dockerfile"                 # relative to the context, as written
    repository: str = ""                           # as declared (default: the image's base name)
    tags: Tuple[str, ...] = ("latest",)
    args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: Optional[str] = None
    platform: Optional[str] = None
    pull: bool = False                             # ask the engine to refresh external bases
    depends_on: Tuple[str, ...] = ()               # image or group names, as declared (validated)
    import_path: Optional[Path] = None             # absolute; set for `import:` images (no build)
    matrix: Mapping[str, str] = field(default_factory=dict)  # this cell's values; empty if none
    matrix_group: Optional[str] = None             # the declared name this cell came from
    variant_of: Optional[str] = None               # `hello` for `hello-v2`
    version: Optional[str] = None                  # from `semver:` ("1.2.3", no leading v); None if unset or empty
    pos: Optional[Pos] = None                      # where the image is declared
    key_pos: Mapping[str, Pos] = field(default_factory=dict)  # where each key's value is, for later errors
    # Dotted manifest paths for Problems raised after loading. They name where a setting was
    # written, which for a variant, a matrix cell or an inherited setting is not
    # ``images.<name>.<key>``: ``images.hello.variants.v2`` / ``defaults.args``.
    path: str = ""                                 # where the image is declared
    key_path: Mapping[str, str] = field(default_factory=dict)  # where each key's value is written

    @property
    def dockerfile_path(self) -> Path:
        return self.context / self.dockerfile

    @property
    def references(self) -> Tuple[str, ...]:
        """``repository:tag`` for each tag, as the local engine names it."""
        return tuple(f"{self.repository}:{t}" for t in self.tags)

    @property
    def is_import(self) -> bool:
        return self.import_path is not None


@dataclass(frozen=True)
class Manifest:
    path: Path                                     # absolute path of images.yaml
    display_path: str                              # how to name the file in messages (as given)
    version: int
    registry: Optional[str]
    variables: Mapping[str, str]                   # resolved: file < environment < --var
    images: Mapping[str, ImageSpec]                # insertion order = declaration order
    groups: Mapping[str, Tuple[str, ...]]          # every group expanded to image names; includes
                                                   # "default" (all images when not declared) and
                                                   # one implicit group per matrix image
    group_pos: Mapping[str, Pos] = field(default_factory=dict)
    # Revision, source and time for the provenance labels (a gitvalues.Provenance); read lazily,
    # at build time, and never part of a cache key. None for a manifest made by hand.
    provenance: Optional[object] = field(default=None, compare=False, repr=False)

    @property
    def root(self) -> Path:
        return self.path.parent

    def push_reference(self, image: ImageSpec, tag: str) -> str:
        """Where `push` sends ``image:tag``: the registry prefix, unless the repository names a host."""
        repo = image.repository
        first = repo.split("/", 1)[0]
        has_host = "/" in repo and ("." in first or ":" in first or first == "localhost")
        if self.registry and not has_host:
            repo = f"{self.registry.rstrip('/')}/{repo}"
        return f"{repo}:{tag}"
