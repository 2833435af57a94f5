"""``images changed --since REV``: the images whose inputs differ between a revision and the work tree.

Both sides are planned the same way, without an engine: the revision's files are written to a
temporary folder (``gitvalues.export_tree``: the repository's index, HEAD and work tree are not
touched), its manifest is loaded from there, and each image's cache key is computed on both
sides. An image whose key differs, or that is new, has changed; so has every image built on it.
External bases count as unchanged (their image IDs are the engine's to know, and the question is
about the repository). Tags are not inputs: an image whose tags alone changed has not changed.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import networkx as nx

from builder.context import ContextError, StatCache, dockerfile_relpath
from builder.errors import ManifestError, UsageError
from builder.manifest.gitvalues import GitUnavailable, GitValues, export_tree, resolve_commit
from builder.plan.graph import ImageGraph
from builder.plan.plan import BuildPlan, describe_files, make_plan

# (manifest path at the revision, git values describing the revision) -> its graph
LoadPrevious = Callable[[Path, GitValues], ImageGraph]


@dataclass(frozen=True)
class Changes:
    since: str                                     # the revision as given
    commit: str                                    # the commit it names
    changed: Tuple[str, ...]                       # build order: parents before children
    removed: Tuple[str, ...]                       # images of the revision's manifest gone since
    reasons: Mapping[str, str] = field(default_factory=dict)
    note: str = ""                                 # why the comparison is coarser than usual

    def to_json(self) -> dict:
        out = {"version": 1, "since": self.since, "commit": self.commit, "changed": list(self.changed),
               "removed": list(self.removed), "reasons": {n: self.reasons[n] for n in self.changed}}
        if self.note:
            out["note"] = self.note
        return out


def image_plan(graph: ImageGraph, stat_cache: Optional[StatCache] = None) -> BuildPlan:
    """Every image of ``graph`` planned without an engine: the cache keys and their inputs."""
    return make_plan(graph, list(graph.manifest.images), state=None, stat_cache=stat_cache)


def changed_since(graph: ImageGraph, since: str, load_previous: LoadPrevious, *,
                  stat_cache: Optional[StatCache] = None) -> Changes:
    """Compare the work tree's images (``graph``) with those of the revision ``since``.

    ``load_previous`` loads the revision's manifest (with the same ``--var`` values as the
    current one) and builds its graph; a ManifestError from it makes every image count as
    changed, with a note saying why.
    """
    manifest = graph.manifest
    try:
        commit = resolve_commit(manifest.root, since)
        top = GitValues(manifest.root).toplevel()
    except GitUnavailable as exc:
        raise UsageError(f"changed --since {since}: {exc}") from None
    try:
        relative = manifest.path.resolve().relative_to(top.resolve())
    except ValueError:
        raise UsageError(f"changed --since {since}: the manifest is outside the work tree {top}") from None

    current = image_plan(graph, stat_cache)
    with tempfile.TemporaryDirectory(prefix="images-changed-") as tmp:
        tree = Path(tmp) / "tree"
        subdir = relative.parent.as_posix()
        try:
            export_tree(manifest.root, commit, tree, "" if subdir == "." else subdir)
        except GitUnavailable as exc:
            raise UsageError(f"changed --since {since}: cannot read the files of {commit[:12]}: {exc}") from None
        previous_path = tree / relative
        note = ""
        previous: Optional[BuildPlan] = None
        old_graph: Optional[ImageGraph] = None
        if not previous_path.is_file():
            note = f"{relative.as_posix()} does not exist at {since}: every image is new"
        else:
            try:
                old_graph = load_previous(previous_path, GitValues(manifest.root, commit=commit))
                previous = image_plan(old_graph)
            except ManifestError as exc:
                first = exc.problems[0] if exc.problems else None
                detail = f" (first: {first.path + ': ' if first and first.path else ''}{first.message})" \
                    if first else ""
                note = (f"the manifest at {since} has {len(exc.problems)} problem"
                        f"{'s' if len(exc.problems) != 1 else ''}{detail}: every image counts as changed")
            except ContextError as exc:
                previous = old_graph = None
                note = f"a build context at {since} cannot be read ({exc.message}): every image counts as changed"
    if previous is None:
        old_graph = None
    return compare(graph, current, old_graph, previous, since=since, commit=commit, note=note)


def compare(graph: ImageGraph, current: BuildPlan, old_graph: Optional[ImageGraph], previous: Optional[BuildPlan],
            *, since: str = "", commit: str = "", note: str = "") -> Changes:
    """The images of ``current`` whose keys differ from ``previous`` (None: all), with descendants."""
    old = {s.name: s for s in previous.steps} if previous is not None else {}
    reasons: Dict[str, str] = {}
    for step in current.steps:
        before = old.get(step.name)
        if previous is None:
            reasons[step.name] = "no comparable manifest at the revision"
        elif before is None:
            reasons[step.name] = "new image"
        elif before.cache_key != step.cache_key:
            files = None
            if before.inputs.get("context") != step.inputs.get("context") and old_graph is not None:
                files = _files_difference(old_graph, previous, graph, current, step.name,
                                          before.inputs.get("dockerfile") != step.inputs.get("dockerfile"))
            reasons[step.name] = _difference(before.inputs, step.inputs, files)
    for name in list(reasons):
        for child in nx.descendants(graph.graph, name):
            reasons.setdefault(child, "")
    for step in current.steps:               # fill in inherited reasons parents-first
        if reasons.get(step.name) == "":
            changed_parents = [p for p in step.parents if p in reasons]
            reasons[step.name] = ", ".join(f"parent '{p}' changed" for p in changed_parents) or "parent changed"
    changed = tuple(s.name for s in current.steps if s.name in reasons)
    current_names = set(graph.manifest.images)
    previous_names = list(old_graph.manifest.images) if old_graph is not None else []
    removed = tuple(n for n in previous_names if n not in current_names)
    return Changes(since, commit, changed, removed, {n: reasons[n] for n in changed}, note)


def _files_difference(old_graph: ImageGraph, previous: BuildPlan, graph: ImageGraph, current: BuildPlan,
                      name: str, dockerfile_changed: bool) -> Optional[str]:
    """Which context files differ ("" when only the Dockerfile, already named); None if unknown."""
    def files(g: ImageGraph, plan: BuildPlan):
        image = g.manifest.images[name]
        digest = plan.digests.get(f"{image.context}\0{image.dockerfile}")
        if digest is None:
            return None
        found = dict(digest.files)
        if dockerfile_changed:
            found.pop(dockerfile_relpath(image.dockerfile), None)
        return found

    before, after = files(old_graph, previous), files(graph, current)
    if before is None or after is None:
        return None
    return describe_files(before, after) if before != after else ""


def _difference(old: Mapping[str, object], new: Mapping[str, object], files: Optional[str] = None) -> str:
    parts: List[str] = []
    if "import" in new or "import" in old:
        if old.get("import") != new.get("import"):
            parts.append("tarball changed")
    else:
        if old.get("dockerfile") != new.get("dockerfile"):
            parts.append("Dockerfile changed")
        if old.get("context") != new.get("context") and files != "":
            parts.append(files or "context files changed")
        old_args = old.get("args") or {}
        new_args = new.get("args") or {}
        names = sorted(k for k in set(old_args) | set(new_args) if old_args.get(k) != new_args.get(k))  # type: ignore
        if names:
            parts.append("args changed: " + ", ".join(names))
        if old.get("settings") != new.get("settings"):
            parts.append("target, platform or labels changed")
        if old.get("bases") != new.get("bases"):
            parts.append("base images changed")
    old_parents = old.get("parents") or {}
    new_parents = new.get("parents") or {}
    for name in sorted(set(old_parents) | set(new_parents)):  # type: ignore
        if name not in old_parents:
            parts.append(f"new parent '{name}'")
        elif name not in new_parents:
            parts.append(f"no longer built on '{name}'")
        elif old_parents[name] != new_parents[name]:  # type: ignore
            parts.append(f"parent '{name}' changed")
    return "; ".join(parts) or "inputs changed"
