"""The registry side of the cache: which references to ask a registry about, what its answers
mean for the plan, and which images found there the engine must pull.

An image is looked up by its push references (``Manifest.push_reference``): the registry holds
a build of the same inputs when the image config there carries the same ``images.cache-key``
label. The asking goes through a registry client passed in (``builder.engine.registry``); the
answers become a ``RegistryState``, which the planner takes as an input.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Set, Tuple

from builder import refs
from builder.manifest.model import ImageSpec, Manifest
from builder.plan.plan import BuildPlan, registry_hit
from builder.plan.state import KEY_LABEL, RegistryImage, RegistryState


def push_references(manifest: Manifest, image: ImageSpec) -> Tuple[str, ...]:
    return tuple(manifest.push_reference(image, tag) for tag in image.tags)


def has_registry(manifest: Manifest, image: ImageSpec) -> bool:
    """Whether ``image`` is published to a registry of its own: the manifest's ``registry:``,
    or a host in the repository. A bare Docker Hub name is not looked up."""
    if manifest.registry:
        return True
    if not image.tags:
        return False
    repository = refs.split(manifest.push_reference(image, image.tags[0]))[0]
    try:
        domain = refs.normalize_repository(repository).split("/", 1)[0]
    except Exception:  # noqa: BLE001 - an invalid name was reported by validation already
        return False
    return domain != refs.DEFAULT_DOMAIN


def references_to_ask(manifest: Manifest, plan: BuildPlan, *, everything: bool) -> List[str]:
    """The push references to look up: those of the images the engine does not hold a build
    of, or of every image (``everything``, for a push, which skips what is already there)."""
    wanted: List[str] = []
    for step in plan.steps:
        image = manifest.images[step.name]
        if not has_registry(manifest, image):
            continue
        if everything or step.action != "cached":
            wanted.extend(push_references(manifest, image))
    return list(dict.fromkeys(wanted))


def registry_state(client, references: Sequence[str]) -> RegistryState:
    """Ask ``client`` (a ``RegistryClient``) about ``references``, in parallel."""
    lookups = client.look_up(references)
    images = tuple(RegistryImage(reference, found.digest, found.labels.get(KEY_LABEL))
                   for reference, found in sorted(lookups.found.items()))
    return RegistryState(images, tuple(lookups.notes))


def found_elsewhere(manifest: Manifest, plan: BuildPlan, registry: Optional[RegistryState]) -> bool:
    """Whether the registry holds the key of an image the plan would build: then the plan has
    to be made again with what the registry holds."""
    return any(step.action != "cached" and registry_hit(registry, step.cache_key,
                                                        push_references(manifest, manifest.images[step.name]))
               for step in plan.steps)


def registry_only(plan: BuildPlan) -> Set[str]:
    """The images found in a registry and not on the engine."""
    return {s.name for s in plan.steps if s.action == "cached" and s.image_id is None and s.remote}


def must_pull(plan: BuildPlan, *, push: bool) -> Set[str]:
    """The images found only in a registry that the engine needs: without a push, every one
    (the user asked for the images); with a push, only those a child that is built here sits
    on (the others are published already, and a retag in the registry needs no pull)."""
    remote = registry_only(plan)
    if not push:
        return remote
    return {p for s in plan.steps if s.action in ("build", "import") for p in s.parents if p in remote}
