"""Cache keys and the BuildPlan: for each selected image, build / cached / import, and why.

The cache key hashes everything that decides an image's content (DESIGN.md, Caching): the
Dockerfile bytes, the context files the engine would receive with their modes, the resolved build
args, target, platform, labels, and each parent's identity (a manifest parent's cache key, an
external base's image ID). Pure: what it knows of the engine comes in as an ``EngineState``, and
what it knows of the registries as a ``RegistryState``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import networkx as nx

from builder.context import ContextDigest, StatCache, context_digest
from builder.manifest.model import ImageSpec
from builder.plan.graph import ImageGraph
from builder.plan.state import INPUTS_LABEL, BuildRecords, EngineState, RegistryImage, RegistryState

KEY_VERSION = "images-cache-key/1"


@dataclass(frozen=True)
class Step:
    name: str
    action: str                         # "build" | "cached" | "import"
    reason: str
    parents: Tuple[str, ...]
    generation: int
    cache_key: str
    references: Tuple[str, ...]         # repository:tag the image must carry
    retag: Tuple[str, ...] = ()         # references to (re)point at image_id (cached images)
    image_id: Optional[str] = None      # the existing image, for cached
    external_bases: Tuple[str, ...] = ()
    inputs: Mapping[str, object] = field(default_factory=dict)   # component digests (stored as a label)
    context_files: int = 0
    context_bytes: int = 0
    # Found in a registry only (action cached, image_id None): where, and the manifest digest.
    remote: Optional[str] = None
    remote_digest: Optional[str] = None

    def to_json(self) -> dict:
        data = {
            "name": self.name, "action": self.action, "reason": self.reason,
            "parents": list(self.parents), "generation": self.generation,
            "cache_key": self.cache_key, "tags": list(self.references),
            "retag": list(self.retag), "image_id": self.image_id,
            "external_bases": list(self.external_bases),
            "context": {"files": self.context_files, "bytes": self.context_bytes},
        }
        if self.remote:
            data["registry"] = {"reference": self.remote, "digest": self.remote_digest}
        return data


@dataclass(frozen=True)
class BuildPlan:
    steps: Tuple[Step, ...]
    engine: Optional[str]               # endpoint asked, or None when no engine was reachable
    engine_note: str = ""               # what the plan cannot know without an engine
    digests: Mapping[str, ContextDigest] = field(default_factory=dict, compare=False, repr=False)
    registry_notes: Tuple[str, ...] = ()  # registries that could not be asked

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def parents_map(self) -> Dict[str, Tuple[str, ...]]:
        return {s.name: s.parents for s in self.steps}

    def to_json(self) -> dict:
        # "images": the names alone, in build order, to feed a CI matrix as they are.
        out = {"version": 1, "images": [s.name for s in self.steps], "steps": [s.to_json() for s in self.steps]}
        if self.engine_note:
            out["note"] = self.engine_note
        if self.registry_notes:
            out["registry_notes"] = list(self.registry_notes)
        return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_digest(value) -> str:
    return _sha(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe_files(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """``files changed: a, b; added: c`` for two context digests' file maps."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(new) & set(old) if new[k] != old[k])
    parts = []
    for label, names in (("changed", changed), ("added", added), ("removed", removed)):
        if names:
            shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
            parts.append(f"{label}: {shown}")
    return "files " + "; ".join(parts) if parts else "file modes changed"


def make_plan(graph: ImageGraph, names: Sequence[str], *, state: Optional[EngineState],
              engine_note: str = "", records: Optional[BuildRecords] = None,
              stat_cache: Optional[StatCache] = None, no_cache: bool = False,
              registry: Optional[RegistryState] = None) -> BuildPlan:
    """Plan ``names`` (which must already include their manifest ancestors).

    An image whose key is not on the engine but is the ``images.cache-key`` of what
    ``registry`` found at one of its push references is ``cached`` there (``Step.remote``).
    """
    manifest = graph.manifest
    sub = graph.graph.subgraph(names)
    generation: Dict[str, int] = {}
    for i, layer in enumerate(nx.topological_generations(sub)):
        for n in layer:
            generation[n] = i
    order = sorted(names, key=lambda n: (generation[n], list(manifest.images).index(n)))

    digests: Dict[Tuple[Path, str], ContextDigest] = {}
    keys: Dict[str, str] = {}
    steps: Dict[str, Step] = {}
    for name in order:
        image = manifest.images[name]
        parents = tuple(sorted(sub.predecessors(name)))
        inputs: Dict[str, object] = {}
        ctx: Optional[ContextDigest] = None
        if image.is_import:
            inputs["import"] = _file_digest(image.import_path)
        else:
            memo = (image.context, image.dockerfile)
            ctx = digests.get(memo)
            if ctx is None:
                ctx = digests[memo] = context_digest(image.context, image.dockerfile, stat_cache)
            inputs["dockerfile"] = _sha(graph.dockerfile_bytes[name])
            inputs["context"] = ctx.digest
            inputs["args"] = dict(sorted(image.args.items()))
            inputs["settings"] = _json_digest({"target": image.target, "platform": image.platform,
                                               "labels": dict(image.labels)})
            externals = {}
            for ref in graph.external_bases.get(name, ()):
                found = state.image_for(ref) if state is not None else None
                externals[ref] = found.id if found else None
            inputs["bases"] = externals
        inputs["parents"] = {p: keys[p] for p in parents}
        key = _json_digest({"v": KEY_VERSION, **inputs})
        keys[name] = key

        pushed_to = tuple(manifest.push_reference(image, tag) for tag in image.tags)
        action, reason, retag, image_id, remote = _decide(image, key, inputs, parents, steps, state,
                                                          records, ctx, no_cache, engine_note,
                                                          registry, pushed_to)
        steps[name] = Step(
            name=name, action=action, reason=reason, parents=parents, generation=generation[name],
            cache_key=key, references=image.references, retag=retag, image_id=image_id,
            external_bases=graph.external_bases.get(name, ()), inputs=inputs,
            context_files=ctx.count if ctx else 0, context_bytes=ctx.total_size if ctx else 0,
            remote=remote.reference if remote else None, remote_digest=remote.digest if remote else None,
        )
    return BuildPlan(tuple(steps[n] for n in order), state.endpoint if state else None, engine_note,
                     {f"{k[0]}\0{k[1]}": v for k, v in digests.items()},
                     registry_notes=registry.notes if registry is not None else ())


def _decide(image: ImageSpec, key: str, inputs, parents, steps, state, records, ctx, no_cache,
            engine_note, registry: Optional[RegistryState], pushed_to: Tuple[str, ...]
            ) -> Tuple[str, str, Tuple[str, ...], Optional[str], Optional[RegistryImage]]:
    build = "import" if image.is_import else "build"
    if no_cache:
        return build, "--no-cache", (), None, None
    hit = state.by_key.get(key) if state is not None else None
    if hit is not None:
        moved = tuple(r for r in image.references
                      if (state.image_for(r) is None or state.image_for(r).id != hit.id))
        if moved:
            return ("cached", f"inputs unchanged (key {key[:12]}); re-tag {', '.join(moved)}", moved,
                    hit.id, None)
        return "cached", f"inputs unchanged (key {key[:12]})", (), hit.id, None
    remote = registry_hit(registry, key, pushed_to)
    if remote is not None:
        return "cached", f"cached (registry): key {key[:12]}\u2026 at {remote.reference}", (), None, remote
    if state is None:
        return build, "no engine reachable: cannot tell whether an earlier build exists", (), None, None
    return build, _why(image, inputs, parents, steps, state, records, ctx), (), None, None


def registry_hit(registry: Optional[RegistryState], key: str,
                 references: Sequence[str]) -> Optional[RegistryImage]:
    """The first of ``references`` where ``registry`` found an image with cache key ``key``."""
    if registry is None:
        return None
    for reference in references:
        found = registry.image_for(reference)
        if found is not None and found.cache_key == key:
            return found
    return None


def _why(image: ImageSpec, inputs, parents, steps, state: EngineState, records, ctx) -> str:
    previous = None
    for ref in image.references:
        found = state.image_for(ref)
        if found is not None and INPUTS_LABEL in found.labels:
            try:
                previous = json.loads(found.labels[INPUTS_LABEL])
            except ValueError:
                previous = None
            break
    record = records.get(image.name) if records is not None else None
    if previous is None and record is not None:
        previous = record.get("inputs")
    if previous is None:
        return "no earlier build"
    reasons: List[str] = []
    if "import" in inputs:
        if previous.get("import") != inputs["import"]:
            reasons.append("tarball changed")
    else:
        if previous.get("dockerfile") != inputs["dockerfile"]:
            reasons.append("Dockerfile changed")
        if previous.get("context") != inputs["context"]:
            old_files = (record or {}).get("files") if record and record.get("inputs", {}).get(
                "context") == previous.get("context") else None
            if old_files is not None and ctx is not None:
                reasons.append(describe_files(old_files, ctx.files))
            else:
                reasons.append("context files changed")
        old_args = previous.get("args") or {}
        new_args = inputs["args"]
        changed = sorted(k for k in set(old_args) | set(new_args) if old_args.get(k) != new_args.get(k))
        if changed:
            reasons.append("args changed: " + ", ".join(changed))
        if previous.get("settings") != inputs["settings"]:
            reasons.append("target, platform or labels changed")
        old_bases = previous.get("bases") or {}
        for ref, ident in inputs["bases"].items():
            if ref in old_bases and old_bases[ref] != ident:
                reasons.append(f"base image {ref} changed")
    old_parents = previous.get("parents") or {}
    for p in parents:
        if old_parents.get(p) != inputs["parents"][p]:
            reasons.append(f"parent '{p}' " + ("rebuilt" if steps[p].action != "cached" else "changed"))
    return "; ".join(reasons) if reasons else "inputs changed"


def inputs_label(step: Step) -> str:
    """The compact JSON stored on the image so a later plan can say what changed."""
    return json.dumps(step.inputs, sort_keys=True, separators=(",", ":"))
