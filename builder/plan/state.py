"""What the planner knows of the engine and of earlier builds, as plain values (no Docker here).

``EngineState`` is made from the engine's image list (one call); ``BuildRecords`` keeps, per
image, the inputs of its last build on this machine so `plan` can name the files that changed.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Tuple

from builder import refs

KEY_LABEL = "images.cache-key"
INPUTS_LABEL = "images.inputs"
NAME_LABEL = "images.name"
PROJECT_LABEL = "images.project"


from builder.cachedir import cache_home  # noqa: E402  (re-exported for the CLI)


def project_id(manifest_path: Path) -> str:
    return hashlib.sha256(str(manifest_path.resolve()).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EngineImage:
    id: str
    tags: Tuple[str, ...]
    labels: Mapping[str, str]
    created: int = 0
    size: int = 0
    digests: Tuple[str, ...] = ()

    @property
    def cache_key(self) -> Optional[str]:
        return self.labels.get(KEY_LABEL)


@dataclass
class EngineState:
    """The engine's images, indexed by our cache-key label and by normalised reference."""

    images: Tuple[EngineImage, ...] = ()
    endpoint: str = ""
    by_key: Dict[str, EngineImage] = field(default_factory=dict)
    by_ref: Dict[str, EngineImage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for image in sorted(self.images, key=lambda i: (len(i.tags), i.created)):
            key = image.cache_key
            if key:
                self.by_key[key] = image  # the most tagged, newest wins
            for ref in image.tags + image.digests:
                try:
                    self.by_ref[refs.normalize(ref)] = image
                except Exception:
                    pass

    @classmethod
    def from_engine_list(cls, entries: Iterable[Mapping], endpoint: str = "") -> "EngineState":
        """From the Engine API's GET /images/json entries."""
        images = []
        for e in entries:
            tags = tuple(t for t in (e.get("RepoTags") or ()) if t != "<none>:<none>")
            digests = tuple(d for d in (e.get("RepoDigests") or ()) if not d.startswith("<none>"))
            images.append(EngineImage(e["Id"], tags, dict(e.get("Labels") or {}),
                                      int(e.get("Created") or 0), int(e.get("Size") or 0), digests))
        return cls(tuple(images), endpoint)

    def image_for(self, reference: str) -> Optional[EngineImage]:
        try:
            return self.by_ref.get(refs.normalize(reference))
        except Exception:
            return None


class BuildRecords:
    """Per-image inputs of the last build made here: ``<cache>/state/<project>/<image>.json``."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def get(self, name: str) -> Optional[dict]:
        try:
            with open(self._path(name), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def put(self, name: str, record: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, separators=(",", ":"))
        os.replace(tmp, path)


@dataclass(frozen=True)
class RegistryImage:
    """What a registry holds at one reference: the manifest digest and our cache-key label."""

    reference: str
    digest: str
    cache_key: Optional[str]


@dataclass
class RegistryState:
    """What the registries were asked and said, as plain values (the asking is done elsewhere).

    ``images`` holds the references found; a reference asked and not found is simply absent.
    ``notes`` says what could not be asked (a registry that is down).
    """

    images: Tuple[RegistryImage, ...] = ()
    notes: Tuple[str, ...] = ()
    by_ref: Dict[str, RegistryImage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for image in self.images:
            try:
                self.by_ref[refs.normalize(image.reference)] = image
            except Exception:
                pass

    def image_for(self, reference: str) -> Optional[RegistryImage]:
        try:
            return self.by_ref.get(refs.normalize(reference))
        except Exception:
            return None
