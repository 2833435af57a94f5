"""The image lifecycle over the manifest: what `ls`, `tag`, `push`, `pull`, `save`, `rm` and `prune`
do, as operations on an engine object. Nothing here prints: results come back as values, failures
as typed errors, and progress through callbacks.

Superseded builds are found from the engine's image list alone (``all=1``, with ``ParentId``):
an image carries ``images.project`` when this manifest built it, and it is superseded when none of
the manifest's current references points to it. An image is never removed while a kept image is
built on it, nor while a container uses it.
"""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set,
                    Tuple)

from builder import refs
from builder.errors import EngineError, ImagesError, UsageError
from builder.manifest.model import ImageSpec, Manifest
from builder.plan.state import NAME_LABEL, PROJECT_LABEL, EngineState, project_id

log = logging.getLogger(__name__)

ProgressSink = Callable[[dict], None]

UP_TO_DATE, STALE, MISSING, SUPERSEDED = "up to date", "stale", "missing", "superseded"
NONE = "<none>"


class NotBuilt(EngineError):
    """Images of the manifest that have no image at their tags yet."""

    def __init__(self, missing: Sequence[Tuple[str, str]]):
        self.missing = tuple(missing)
        names = []
        for name, _reference in self.missing:
            if name not in names:
                names.append(name)
        described = ", ".join(f"'{name}' (no image at {reference})" for name, reference in self.missing)
        verb = "has" if len(self.missing) == 1 else "have"
        super().__init__(f"{described} {verb} not been built; build it first: "
                         f"images build {' '.join(names)}")


def _norm(reference: str) -> str:
    try:
        return refs.normalize(reference)
    except Exception:  # noqa: BLE001 - a tag the engine holds but our grammar rejects
        return reference


def _tags(entry: Mapping[str, Any]) -> Tuple[str, ...]:
    return tuple(t for t in (entry.get("RepoTags") or ()) if t and t != "<none>:<none>")


def push_references(manifest: Manifest, image: ImageSpec) -> Tuple[str, ...]:
    """Where ``push`` sends each tag of ``image``."""
    return tuple(manifest.push_reference(image, tag) for tag in image.tags)


def current_references(manifest: Manifest) -> Set[str]:
    """Normalised references the manifest's images are known by now: local and pushed names."""
    current: Set[str] = set()
    for image in manifest.images.values():
        current.update(_norm(r) for r in image.references)
        current.update(_norm(r) for r in push_references(manifest, image))
    return current


# -- one image ------------------------------------------------------------------------------

def current_image(engine, image: ImageSpec) -> Tuple[str, Dict[str, Any]]:
    """(reference, inspect data) of the image built for ``image``: its first reference's image,
    else the first of its other references that exists. Raises ``NotBuilt``."""
    for reference in image.references:
        info = engine.inspect_image(reference)
        if info is not None:
            return reference, info
    raise NotBuilt([(image.name, image.references[0])])


def require_built(engine, manifest: Manifest, names: Sequence[str]) -> Dict[str, str]:
    """``{reference: image ID}`` for every reference of ``names``; ``NotBuilt`` naming every
    missing one when any is missing, so that nothing is half done."""
    found: Dict[str, str] = {}
    missing: List[Tuple[str, str]] = []
    for name in names:
        for reference in manifest.images[name].references:
            info = engine.inspect_image(reference)
            if info is None:
                missing.append((name, reference))
            else:
                found[reference] = str(info["Id"])
    if missing:
        raise NotBuilt(missing)
    return found


def find_image(engine, manifest: Manifest, name: str) -> Tuple[str, Dict[str, Any]]:
    """(reference, inspect data) for a manifest image name, or else an engine reference or ID.

    Raises ``NotBuilt`` for a manifest image without an image, and ``UsageError`` when ``name``
    is neither a manifest image nor anything the engine has.
    """
    if name in manifest.images:
        return current_image(engine, manifest.images[name])
    try:
        info = engine.inspect_image(name) if name else None
    except EngineError:
        info = None  # a name the engine cannot parse: not an image it has
    if info is None:
        from builder.plan.graph import did_you_mean

        raise UsageError(f"no image named '{name}' in {manifest.display_path}, and no such image "
                         f"in the engine{did_you_mean(name, manifest.images)}")
    return name, info


def add_tag(engine, image: ImageSpec, tag: str) -> Tuple[str, str]:
    """Point ``<repository>:<tag>`` at the image built for ``image``; (new reference, image ID)."""
    problem = refs.validate_tag(tag)
    if problem:
        raise UsageError(f"{problem}; give a bare tag such as v1.2.3 (the repository is "
                         f"{image.repository})")
    _reference, info = current_image(engine, image)
    target = f"{image.repository}:{tag}"
    engine.tag(info["Id"], target)
    return target, str(info["Id"])


# -- ls and prune -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageRow:
    """One line of ``images ls``."""

    name: str                 # manifest image name ('' when the build's name is unknown)
    repository: str
    tag: str
    image_id: Optional[str]   # None when missing
    created: int
    size: int
    status: str               # up to date | stale | missing | superseded


def list_rows(manifest: Manifest, names: Sequence[str], cache_keys: Mapping[str, str],
              state: EngineState) -> List[ImageRow]:
    """A row per tag of each image in ``names``; ``cache_keys`` holds what the current sources
    give (the plan's keys), ``state`` what the engine has."""
    rows: List[ImageRow] = []
    for name in names:
        image = manifest.images[name]
        for tag in image.tags:
            found = state.image_for(f"{image.repository}:{tag}")
            if found is None:
                rows.append(ImageRow(name, image.repository, tag, None, 0, 0, MISSING))
                continue
            status = UP_TO_DATE if found.cache_key and found.cache_key == cache_keys.get(name) else STALE
            rows.append(ImageRow(name, image.repository, tag, found.id, found.created, found.size, status))
    return rows


@dataclass(frozen=True)
class OldBuild:
    """A build of this manifest that no current reference points to any more."""

    image_id: str
    name: str                 # the images.name label ('' when absent)
    tags: Tuple[str, ...]     # tags it still carries (none of them current)
    created: int
    size: int                 # as the engine reports it (with its parents' layers)
    own_size: int             # what it adds to its parent


@dataclass(frozen=True)
class OldBuilds:
    removable: Tuple[OldBuild, ...]                 # children before parents
    kept: Tuple[Tuple[OldBuild, str], ...]          # with the reason
    deleted: Tuple[str, ...]                        # every ID a removal takes (with bare parents)
    reclaimable: int                                # bytes those IDs add up to


def _own_sizes(entries: Sequence[Mapping[str, Any]]) -> Dict[str, int]:
    sizes = {str(e["Id"]): int(e.get("Size") or 0) for e in entries}
    own: Dict[str, int] = {}
    for e in entries:
        parent = e.get("ParentId") or ""
        size = sizes[str(e["Id"])]
        own[str(e["Id"])] = max(0, size - sizes[parent]) if parent in sizes else size
    return own


def find_old_builds(entries: Sequence[Mapping[str, Any]], manifest: Manifest, *,
                    names: Optional[Iterable[str]] = None,
                    in_use: Optional[Mapping[str, str]] = None) -> OldBuilds:
    """The superseded builds among the engine's images ``entries`` (``GET /images/json?all=1``).

    A superseded build carries this manifest's ``images.project`` label and no current
    reference (``current_references``). ``names`` limits them to builds of those images (by the
    ``images.name`` label); None means all of the project, including images since removed from
    the manifest. ``in_use`` maps image IDs that containers use to a description.

    Only the images the engine lists without ``all`` count as builds: those with a tag or digest,
    and those no other image is built on. The intermediate images of a child's build inherit
    every label of its parent, ours included, so labels alone cannot tell a build from a step of
    another build. A superseded build that an older child still sits on is therefore not listed
    itself: it goes with that child, since removing an image also removes the parents that only
    it held and that have no tag (as ``docker rmi`` does). ``deleted`` and ``reclaimable``
    account for those. A build is removable unless an image that stays is built on it.
    """
    pid = project_id(manifest.path)
    current = current_references(manifest)
    wanted = set(names) if names is not None else None
    in_use = dict(in_use or {})
    by_id: Dict[str, Mapping[str, Any]] = {str(e["Id"]): e for e in entries}
    parent: Dict[str, str] = {}
    children: Dict[str, Set[str]] = {}
    for image_id, e in by_id.items():
        p = str(e.get("ParentId") or "")
        if p:
            parent[image_id] = p
            children.setdefault(p, set()).add(image_id)
    own = _own_sizes(list(by_id.values()))

    def referenced(image_id: str) -> bool:
        e = by_id[image_id]
        return bool(_tags(e) or [d for d in (e.get("RepoDigests") or ()) if not d.startswith("<none>")])

    def is_candidate(image_id: str) -> bool:
        e = by_id[image_id]
        labels = e.get("Labels") or {}
        if labels.get(PROJECT_LABEL) != pid:
            return False
        if children.get(image_id) and not referenced(image_id):
            return False  # an intermediate image (see above)
        if any(_norm(t) in current for t in _tags(e)):
            return False
        return wanted is None or labels.get(NAME_LABEL, "") in wanted

    candidates = {i for i in by_id if is_candidate(i)}
    kept_reason: Dict[str, str] = {i: f"in use by {in_use[i]}" for i in candidates if i in in_use}
    protected: Set[str] = set()
    while True:
        base = candidates - protected - set(kept_reason)
        removal = set(base)
        grew = True
        while grew:  # parents without a tag that only images being removed sit on
            grew = False
            for image_id, kids in children.items():
                if (image_id in by_id and image_id not in removal and image_id not in protected
                        and image_id not in in_use and not referenced(image_id)
                        and kids <= removal):
                    removal.add(image_id)
                    grew = True
        staying = set(by_id) - removal
        newly: Set[str] = set()
        for image_id in staying:
            p = parent.get(image_id)
            while p and p not in newly and p not in protected:
                newly.add(p)
                p = parent.get(p)
        if newly <= protected:
            break
        protected |= newly
    for image_id in candidates & protected:
        kept_reason.setdefault(image_id, "an image that stays is built on it")

    def old(image_id: str) -> OldBuild:
        e = by_id[image_id]
        return OldBuild(image_id, str((e.get("Labels") or {}).get(NAME_LABEL, "")), _tags(e),
                        int(e.get("Created") or 0), int(e.get("Size") or 0), own[image_id])

    def depth(image_id: str) -> int:
        n, p = 0, parent.get(image_id)
        while p:
            n, p = n + 1, parent.get(p)
        return n

    chosen = sorted((i for i in candidates if i in removal),
                    key=lambda i: (-depth(i), -int(by_id[i].get("Created") or 0), i))
    kept = sorted(kept_reason.items(), key=lambda item: -int(by_id[item[0]].get("Created") or 0))
    return OldBuilds(tuple(old(i) for i in chosen), tuple((old(i), why) for i, why in kept),
                     tuple(sorted(removal)), sum(own[i] for i in removal))


@dataclass(frozen=True)
class PruneResult:
    removed: Tuple[OldBuild, ...]
    kept: Tuple[Tuple[OldBuild, str], ...]
    untagged: Tuple[str, ...]
    deleted: Tuple[str, ...]
    reclaimed: int


def containers_by_image(engine, image_ids: Iterable[str]) -> Dict[str, str]:
    """``{image ID: "container a, container b"}`` for the images a container uses."""
    used: Dict[str, str] = {}
    for image_id in image_ids:
        names = engine.containers_using(image_id)
        if names:
            used[image_id] = ("containers " if len(names) > 1 else "container ") + ", ".join(names)
    return used


def prune(engine, manifest: Manifest, *, names: Optional[Iterable[str]] = None,
          dry_run: bool = False) -> PruneResult:
    """Remove the manifest's superseded builds (see ``find_old_builds``); with ``dry_run``, only
    say what would go. A removal the engine refuses with a conflict (a container or a child
    image appeared meanwhile) keeps that image rather than failing."""
    from builder.engine.translate import status_code

    entries = engine.list_images(all=True)
    first = find_old_builds(entries, manifest, names=names)
    in_use = containers_by_image(engine, [b.image_id for b in first.removable])
    found = find_old_builds(entries, manifest, names=names, in_use=in_use) if in_use else first
    if dry_run:
        return PruneResult(found.removable, found.kept, tuple(t for b in found.removable for t in b.tags),
                           found.deleted, found.reclaimable)
    own = _own_sizes(entries)
    removed: List[OldBuild] = []
    kept: List[Tuple[OldBuild, str]] = list(found.kept)
    untagged: List[str] = []
    deleted: List[str] = []
    for build in found.removable:
        if build.image_id in deleted:
            removed.append(build)  # went with a child removed before it
            continue
        records: List[Dict[str, str]] = []
        try:
            for tag in build.tags:
                records += engine.untag(tag)
            if not any(r.get("Deleted") == build.image_id for r in records):
                records += engine.remove_image(build.image_id)
            removed.append(build)
        except EngineError as exc:
            text = str(exc)
            if text.endswith("no such image"):
                removed.append(build)  # gone meanwhile
            elif status_code(exc.__cause__) == 409 or "used by container" in text:
                kept.append((build, "in use: " + text.split(": ", 1)[-1]))
            else:
                raise
        finally:
            for r in records:
                if r.get("Untagged") and r["Untagged"] not in untagged:
                    untagged.append(r["Untagged"])
                if r.get("Deleted") and r["Deleted"] not in deleted:
                    deleted.append(r["Deleted"])
    return PruneResult(tuple(removed), tuple(kept), tuple(untagged), tuple(deleted),
                       sum(own.get(i, 0) for i in deleted))


# -- push and pull ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pushed:
    name: str
    local: str
    remote: str
    image_id: str
    digest: Optional[str]


def push_image(engine, manifest: Manifest, image: ImageSpec,
               on_progress: Optional[ProgressSink] = None) -> List[Pushed]:
    """Push every tag of ``image`` to its registry (``Manifest.push_reference``).

    Every tag must exist locally first (else ``NotBuilt``, before anything is pushed). When the
    pushed name differs from the local one, the image gets that name as an extra local tag for
    the push, and the tag is put back as it was afterwards, also when the push fails.
    """
    local_ids = require_built(engine, manifest, [image.name])
    pushed: List[Pushed] = []
    for tag in image.tags:
        local = f"{image.repository}:{tag}"
        remote = manifest.push_reference(image, tag)
        image_id = local_ids[local]
        if _norm(remote) == _norm(local):
            digest = engine.push(local, on_progress=on_progress)
        else:
            before = engine.inspect_image(remote)
            engine.tag(image_id, remote)
            try:
                digest = engine.push(remote, on_progress=on_progress)
            finally:
                _restore_tag(engine, remote, image_id, str(before["Id"]) if before else None)
        pushed.append(Pushed(image.name, local, remote, image_id, digest))
    return pushed


def _restore_tag(engine, reference: str, ours: str, before: Optional[str]) -> None:
    try:
        if before is None:
            engine.untag(reference)
        elif before != ours:
            engine.tag(before, reference)
    except ImagesError as exc:
        log.warning("could not put the tag %s back as it was: %s", reference, exc)


def bases_to_pull(graph, names: Sequence[str]) -> List[str]:
    """The external bases ``names`` need, in build order, once each; ``scratch`` is not pulled."""
    seen: List[str] = []
    for name in names:
        for reference in graph.external_bases.get(name, ()):
            if reference.lower() == "scratch" or reference in seen:
                continue
            seen.append(reference)
    return seen


# -- save ---------------------------------------------------------------------------------------

def save_images(engine, references: Sequence[str], path: Path) -> int:
    """Write one ``docker save`` tarball of ``references`` to ``path``, atomically: readers see
    the old file or the whole new one, never a half-written one. Returns its size in bytes."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: no such directory {path.parent}")
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise EngineError(f"cannot write {path}: {exc.strerror}") from None
        break
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                engine.save(references, f)
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise EngineError(f"cannot write {path}: {exc.strerror}") from None
            size = f.tell()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return size


# -- rm -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Removal:
    name: str
    reference: str
    image_id: str


def removals(engine, manifest: Manifest, names: Sequence[str]) -> List[Removal]:
    """The tags of ``names`` that exist: their references and the pushed names held locally."""
    found: List[Removal] = []
    seen: Set[str] = set()
    for name in names:
        image = manifest.images[name]
        for reference in image.references + push_references(manifest, image):
            key = _norm(reference)
            if key in seen:
                continue
            seen.add(key)
            info = engine.inspect_image(reference)
            if info is not None:
                found.append(Removal(name, reference, str(info["Id"])))
    return found


def remove_images(engine, manifest: Manifest, names: Sequence[str], *,
                  force: bool = False) -> Tuple[List[Removal], List[Dict[str, str]]]:
    """Untag every tag of ``names``; the engine deletes an image whose last tag goes.

    Without ``force``, nothing is removed when a container uses an image that would lose its
    last tag: ``EngineError`` names the image and the container. Returns what was found and the
    engine's records (``{"Untagged": ref}``, ``{"Deleted": id}``).
    """
    found = removals(engine, manifest, names)
    if not force:
        going: Dict[str, Set[str]] = {}
        for r in found:
            going.setdefault(r.image_id, set()).add(_norm(r.reference))
        blocked: List[str] = []
        for image_id, references in going.items():
            info = engine.inspect_image(image_id)
            if info is None:
                continue
            others = {_norm(t) for t in info.get("RepoTags") or ()} - references
            if others:
                continue  # the image stays, tagged: its containers are not affected
            users = engine.containers_using(image_id)
            if users:
                what = ", ".join(sorted(r.reference for r in found if r.image_id == image_id))
                plural = "s" if len(users) > 1 else ""
                blocked.append(f"cannot remove {what}: the image is used by container{plural} "
                               f"{', '.join(users)}")
        if blocked:
            raise EngineError("; ".join(blocked) + "; remove the container first, or use --force "
                              "(nothing was removed)")
    records: List[Dict[str, str]] = []
    for r in found:
        try:
            records += engine.remove_image(r.reference, force=force)
        except EngineError as exc:
            if "no such image" in str(exc):
                continue  # gone meanwhile (a tag of an image deleted with an earlier tag)
            raise
    return found, records
