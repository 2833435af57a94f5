"""`images build --push`: publishing the images of a build to their registries.

Two ways. ``all`` (the default) publishes once every selected image has built or was found
cached, and nothing when any of them failed, so a release never shows half a set; its pushes
stop at the first failure. ``eager`` publishes each image as soon as it is ready (its parents
are ready before it starts), and a failure elsewhere does not stop the others.

Each tag goes where ``Manifest.push_reference`` says, the cheapest way that works:

- ``present``: the registry already holds an image with the same cache key at that reference
  (nothing is sent);
- ``tagged``: the image was found in the registry under another tag: the same manifest is
  stored under this tag (nothing is uploaded, nothing pulled);
- ``pushed``: the engine pushes the local image (``push_image``).
"""
from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from builder import refs
from builder.errors import ImagesError
from builder.manifest.model import Manifest
from builder.plan.plan import BuildPlan
from builder.plan.state import RegistryState
from builder.run.executor import execute
from builder.run.lifecycle import push_image
from builder.run.progress import Event

MODES = ("all", "eager")
#: How the error of an image whose push was never tried begins.
NOT_PUSHED = "not pushed: "


@dataclass(frozen=True)
class Published:
    name: str
    reference: str
    digest: Optional[str]
    action: str                 # pushed | tagged | present

    def to_json(self) -> dict:
        return {"reference": self.reference, "digest": self.digest, "action": self.action}


@dataclass(frozen=True)
class PushOutcome:
    """What publishing did for one image: the references it now has in the registry, and the
    error when that is not all of them."""

    name: str
    published: Tuple[Published, ...] = ()
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Publisher:
    """Publishes one image at a time; safe to call from several threads.

    ``client`` is a ``RegistryClient`` (needed only for images found in a registry); ``registry``
    what the registries held when the plan was made (None when they were not asked).
    """

    def __init__(self, manifest: Manifest, plan: BuildPlan, engine, *, client=None,
                 registry: Optional[RegistryState] = None,
                 progress: Optional[Callable[[Event], None]] = None):
        self.manifest = manifest
        self.plan = plan
        self.engine = engine
        self.client = client
        self.registry = registry
        self.progress = progress or (lambda event: None)
        #: Outcomes so far, by image name (what an interrupted run did publish).
        self.outcomes: Dict[str, PushOutcome] = {}

    def publish(self, name: str) -> List[Published]:
        """Every tag of ``name`` in its registry; raises ``ImagesError`` when one cannot be."""
        step = self.plan.step(name)
        image = self.manifest.images[name]
        done: Dict[str, Published] = {}
        to_push: List[str] = []
        for tag in image.tags:
            remote = self.manifest.push_reference(image, tag)
            found = self.registry.image_for(remote) if self.registry is not None else None
            if found is not None and found.cache_key == step.cache_key:
                done[tag] = Published(name, remote, found.digest, "present")
            elif step.remote and step.remote_digest and self.client is not None:
                source = f"{refs.split(step.remote)[0]}@{step.remote_digest}"
                digest = self.client.copy_tag(source, remote)
                done[tag] = Published(name, remote, digest, "tagged")
                self.progress(Event(name, "info", text=f"tagged {remote} in the registry ({digest})"))
            else:
                to_push.append(tag)
        if to_push:
            subset = dataclasses.replace(image, tags=tuple(to_push))
            for pushed in push_image(self.engine, self.manifest, subset):
                done[pushed.local.rsplit(":", 1)[1]] = Published(name, pushed.remote, pushed.digest, "pushed")
                self.progress(Event(name, "info", text=f"pushed {pushed.remote} ({pushed.digest or 'no digest'})"))
        return [done[tag] for tag in image.tags if tag in done]

    def outcome(self, name: str) -> PushOutcome:
        try:
            outcome = PushOutcome(name, tuple(self.publish(name)))
        except ImagesError as exc:
            outcome = PushOutcome(name, error=str(exc))
        self.outcomes[name] = outcome
        return outcome


def publish_all(publisher: Publisher, names: Sequence[str], *, jobs: int,
                stop: Optional[threading.Event] = None) -> Dict[str, PushOutcome]:
    """Publish ``names`` (all built or cached), parents first, ``jobs`` at a time. After the
    first failure nothing new starts; the images not reached say why."""
    parents = {name: tuple(p for p in publisher.plan.step(name).parents if p in names) for name in names}
    outcomes: Dict[str, PushOutcome] = {}

    def work(name: str) -> PushOutcome:
        outcome = publisher.outcome(name)
        outcomes[name] = outcome
        if not outcome.ok:
            raise _PushFailed(outcome.error or "")
        return outcome

    results = execute(parents, work, jobs=jobs, keep_going=False, stop=stop)
    first = next((n for n in names if n in outcomes and not outcomes[n].ok), None)
    for name in names:
        if name not in outcomes:
            r = results.get(name)
            why = f"the push of '{first}' failed" if first else (r.cause if r is not None and r.cause else "stopped")
            outcomes[name] = PushOutcome(name, error=f"{NOT_PUSHED}{why}")
    return {name: outcomes[name] for name in names}


class _PushFailed(Exception):
    pass


class EagerPublishing:
    """``--push=eager``: each image is handed over as soon as it is built or found cached and is
    published in the background while the build goes on."""

    def __init__(self, publisher: Publisher, *, jobs: int):
        self.publisher = publisher
        self._pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="images-push")
        self._futures: Dict[str, "Future[PushOutcome]"] = {}
        self._lock = threading.Lock()

    def submit(self, name: str) -> None:
        with self._lock:
            if name not in self._futures:
                self._futures[name] = self._pool.submit(self.publisher.outcome, name)

    def wait(self) -> Dict[str, PushOutcome]:
        """Wait for every push handed over; their outcomes by image name."""
        with self._lock:
            futures = dict(self._futures)
        self._pool.shutdown(wait=True)
        return {name: future.result() for name, future in futures.items()}

    def abandon(self) -> None:
        """Start no further pushes (an interrupted build); running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def outcomes_json(outcomes: Mapping[str, PushOutcome], name: str) -> dict:
    """The report fields of ``name``: ``pushed`` (the references and their digests) and,
    when publishing failed, ``push_error``."""
    outcome = outcomes.get(name)
    data: dict = {"pushed": [p.to_json() for p in outcome.published] if outcome else []}
    if outcome is not None and outcome.error:
        data["push_error"] = outcome.error
    return data
