"""Execute a BuildPlan on an engine: the ready-queue executor, progress, logs, tags, records."""
from __future__ import annotations

import heapq
import itertools
import re
import threading
import time
from dataclasses import dataclass
from typing import AbstractSet, Callable, Dict, List, Optional, Tuple

from builder.engine.buildkit import step_of as buildkit_step
from builder.errors import Cancelled, EngineError, ImagesError
from builder.manifest.model import ImageSpec, Manifest
from builder.plan.plan import BuildPlan, Step, inputs_label
from builder.plan.state import INPUTS_LABEL, KEY_LABEL, NAME_LABEL, PROJECT_LABEL, BuildRecords, project_id
from builder.run.executor import NodeResult, critical_path_lengths, dependency_graph, execute
from builder.run.logs import LogStore
from builder.run.progress import Event

_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : ")
# A step line of either builder whose instruction is RUN ("Step 3/7 : RUN", "#6 [3/7] RUN").
_RUN_STEP = re.compile(r"(?:^Step \d+/\d+ : |\] )RUN\b", re.IGNORECASE)


@dataclass(frozen=True)
class ImageResult:
    name: str
    status: str                 # built | cached | failed | skipped
    duration_s: float
    image_id: Optional[str]
    tags: Tuple[str, ...]
    cache_key: str
    reason: str
    error: Optional[str] = None
    log_path: Optional[str] = None

    def to_json(self) -> dict:
        data = {"name": self.name, "status": self.status, "duration_s": round(self.duration_s, 3),
                "image_id": self.image_id, "tags": list(self.tags), "cache_key": self.cache_key,
                "reason": self.reason}
        if self.error:
            data["error"] = self.error
        if self.log_path:
            data["log"] = self.log_path
        return data


class StartGate:
    """Lets at most ``slots`` builds through their start-up at once, the most urgent first.

    A build's start-up (the context upload, and the engine loading it and its base images) is
    CPU work on the engine's side; when more builds start together than it has CPUs, every one
    of them starts slower, the most urgent included. The executor hands builds out in
    critical-path order, and the gate serves waiting builds by the same measure (then in arrival
    order), so the most urgent starts first while the rest wait a fraction of a second.

    A build leaves the gate when the engine starts its first RUN step or its last step, when it
    ends, or after ``hold_s`` at most: a start-up that waits on the network (a base image being
    pulled) does not keep the others waiting for long.
    """

    def __init__(self, slots: int, hold_s: float = 1.0):
        self._slots = max(1, slots)
        self._hold_s = hold_s
        self._holders: Dict[int, float] = {}          # ticket -> when it entered
        self._waiting: List[Tuple[float, int]] = []   # (-urgency, arrival), a heap
        self._arrivals = itertools.count()
        self._cond = threading.Condition()

    def _free(self, now: float) -> int:
        for ticket, since in list(self._holders.items()):
            if now - since >= self._hold_s:
                del self._holders[ticket]              # held long enough: counted as started
        return self._slots - len(self._holders)

    def enter(self, stop: threading.Event, urgency: float = 0.0) -> Callable[[], None]:
        """Wait for a slot, behind every waiting build more urgent than ``urgency``; returns
        the call that gives the slot back (safe to call twice). Raises ``Cancelled`` when
        ``stop`` is set while waiting."""
        arrival = next(self._arrivals)
        ticket = (-urgency, arrival)
        with self._cond:
            heapq.heappush(self._waiting, ticket)
            while self._waiting[0] != ticket or self._free(time.monotonic()) <= 0:
                if stop.is_set():
                    self._waiting.remove(ticket)
                    heapq.heapify(self._waiting)
                    self._cond.notify_all()
                    raise Cancelled("build cancelled before it started")
                self._cond.wait(0.05)
            heapq.heappop(self._waiting)
            self._holders[arrival] = time.monotonic()
            self._cond.notify_all()

        def leave() -> None:
            with self._cond:
                if self._holders.pop(arrival, None) is not None:
                    self._cond.notify_all()
        return leave


OCI_REVISION = "org.opencontainers.image.revision"
OCI_SOURCE = "org.opencontainers.image.source"
OCI_VERSION = "org.opencontainers.image.version"
OCI_CREATED = "org.opencontainers.image.created"


def provenance_labels(manifest: Manifest, image: ImageSpec) -> Dict[str, str]:
    """The OCI labels saying where and when an image was built: the commit, the ``origin``
    remote (without credentials), the version (``semver:``, else the first tag) and the time.

    Called at build time only, after the cache key is computed: none of these values enter the
    key, so a new commit or a new day does not rebuild an image whose inputs are unchanged (the
    labels then describe the build that made the image).
    """
    from builder.manifest.gitvalues import rfc3339

    labels: Dict[str, str] = {}
    provenance = manifest.provenance
    revision = provenance.revision() if provenance is not None else None
    source = provenance.source() if provenance is not None else None
    if revision:
        labels[OCI_REVISION] = revision
    if source:
        labels[OCI_SOURCE] = source
    version = image.version or (image.tags[0] if image.tags else None)
    if version:
        labels[OCI_VERSION] = version
    labels[OCI_CREATED] = provenance.created() if provenance is not None else rfc3339(time.time())
    return labels


def build_labels(manifest: Manifest, image: ImageSpec, step: Step) -> Dict[str, str]:
    labels = provenance_labels(manifest, image)
    labels.update(image.labels)     # a label the user sets wins over the provenance ones
    labels.update({KEY_LABEL: step.cache_key, INPUTS_LABEL: inputs_label(step), NAME_LABEL: image.name,
                   PROJECT_LABEL: project_id(manifest.path)})
    return labels


def tag_all(engine, image_id: str, references, done: Optional[List[str]] = None) -> None:
    """Point every reference at image_id; on failure, undo the ones this call moved."""
    moved: List[Tuple[str, Optional[str]]] = []
    try:
        for ref in references:
            before = engine.inspect_image(ref)
            engine.tag(image_id, ref)
            moved.append((ref, before["Id"] if before else None))
    except ImagesError:
        for ref, before in reversed(moved):
            try:
                if before:
                    engine.tag(before, ref)
                else:
                    engine.untag(ref)
            except ImagesError:
                pass
        raise


class Builder:
    def __init__(self, manifest: Manifest, plan: BuildPlan, engine, *, progress: Callable[[Event], None],
                 logs: LogStore, records: Optional[BuildRecords], no_cache: bool = False,
                 stop: Optional[threading.Event] = None, fetch: Optional[AbstractSet[str]] = None,
                 on_image: Optional[Callable[[str], None]] = None, builder: str = "auto",
                 start_slots: Optional[int] = None):
        self.manifest = manifest
        self.plan = plan
        self.engine = engine
        self.progress = progress
        self.logs = logs
        self.records = records
        self.no_cache = no_cache
        self.stop = stop or threading.Event()
        self.finished: Dict[str, NodeResult] = {}
        # Images found only in a registry that are pulled (None: all of them); ``on_image`` is
        # told of each image that is ready (built or cached), from the worker thread.
        self.fetch = fetch
        self.on_image = on_image
        self.builder = builder
        # At most this many builds in their start-up at once (None: no limit beyond --jobs).
        self.gate = StartGate(start_slots) if start_slots else None
        self._starting: Dict[str, Callable[[], None]] = {}
        self._urgency: Dict[str, float] = {}   # critical-path length of each image, for the gate
        self._waited: Dict[str, float] = {}    # time each build spent waiting at the gate
        self._previous: Dict[str, float] = {}  # the recorded durations this run started from

    # The work callable the executor runs for one image.
    def work(self, name: str) -> ImageResult:
        step = self.plan.step(name)
        image = self.manifest.images[name]
        start = time.monotonic()
        if step.action == "cached":
            image_id = step.image_id
            if image_id is None and step.remote:
                if self.fetch is None or name in self.fetch:
                    image_id = self._pull(name, step)
            elif step.retag:
                tag_all(self.engine, step.image_id, step.retag)
            self.progress(Event(name, "cached", text=step.reason, duration_s=time.monotonic() - start))
            if self.on_image is not None:
                self.on_image(name)
            return ImageResult(name, "cached", time.monotonic() - start, image_id, step.references,
                               step.cache_key, step.reason)
        self.progress(Event(name, "start", text=step.reason))
        self.logs.open(name)
        try:
            if step.action == "import":
                image_id = self._import(image, step)
            else:
                image_id = self._build(image, step)
            tag_all(self.engine, image_id, step.references)
        finally:
            self.logs.close(name)
        if self.records is not None:
            digest = self.plan.digests.get(f"{image.context}\0{image.dockerfile}")
            try:
                self.records.put(name, {"key": step.cache_key, "inputs": step.inputs,
                                        "files": dict(digest.files) if digest else None,
                                        "duration_s": self._typical_duration(
                                            name, time.monotonic() - start - self._waited.pop(name, 0.0))})
            except OSError:
                pass
        duration = time.monotonic() - start
        self.progress(Event(name, "done", text=image_id, duration_s=duration))
        if self.on_image is not None:
            self.on_image(name)
        return ImageResult(name, "built", duration, image_id, step.references, step.cache_key, step.reason,
                           log_path=str(self.logs.path(name)))

    def _pull(self, name: str, step: Step) -> str:
        """Pull the build a registry holds (by digest: the very one the plan found) and give it
        the image's local tags."""
        from builder import refs

        source = f"{refs.split(step.remote)[0]}@{step.remote_digest}"
        self.progress(Event(name, "info", text=f"pulling {source}"))
        image_id = self.engine.pull(source)
        info = self.engine.inspect_image(image_id) or {}
        found = ((info.get("Config") or {}).get("Labels") or {}).get(KEY_LABEL)
        if found != step.cache_key:
            raise EngineError(f"{source} carries cache key {str(found)[:12]}, not {step.cache_key[:12]}; "
                              "build again")
        tag_all(self.engine, image_id, step.references)
        return image_id

    def _on_output(self, name: str) -> Callable[[str], None]:
        def on_output(text: str) -> None:
            for line in text.splitlines():
                if not line.strip():
                    continue
                self.logs.write(name, line)
                step = _step_of(line)
                if step is not None:
                    if step[0] == step[1] or _RUN_STEP.search(line):
                        # The engine runs the Dockerfile's own commands now: start-up is over.
                        leave = self._starting.pop(name, None)
                        if leave is not None:
                            leave()
                    self.progress(Event(name, "step", step=step[0], steps=step[1], text=line))
                else:
                    self.progress(Event(name, "log", text=line))
        return on_output

    def _build(self, image: ImageSpec, step: Step) -> str:
        from builder.context import context_entries, dockerfile_relpath, stream_context_tar
        from builder.dockerfile import DockerfileError, parse_dockerfile
        from builder.run.labels import with_labels

        on_output = self._on_output(image.name)
        if image.pull:
            # Refresh external bases ourselves: the engine's pull flag would also try to pull the
            # manifest parents we just built.
            for ref in step.external_bases:
                on_output(f"pulling {ref}")
                self.engine.pull(ref, on_progress=lambda _e: None)
        entries = context_entries(image.context, image.dockerfile)
        labels = build_labels(self.manifest, image, step)
        replace = {}
        text = image.dockerfile_path.read_bytes().decode("utf-8", errors="surrogateescape")
        try:
            stages = parse_dockerfile(text, dict(image.args)).stages
        except DockerfileError:
            stages = ()
        labelled = with_labels(text, labels, stages, image.target)
        if labelled is not None:
            dockerfile_rel = dockerfile_relpath(image.dockerfile)
            replace[dockerfile_rel] = labelled.encode("utf-8", errors="surrogateescape")
            labels = {}
        digest = self.plan.digests.get(f"{image.context}\0{image.dockerfile}")
        stream = stream_context_tar(entries, replace=replace, expected=digest.files if digest else None)
        if self.gate is not None:
            waiting_since = time.monotonic()
            self._starting[image.name] = self.gate.enter(self.stop, self._urgency.get(image.name, 0.0))
            self._waited[image.name] = time.monotonic() - waiting_since
        try:
            return self.engine.build(
                stream, dockerfile=image.dockerfile, buildargs=dict(image.args), labels=labels,
                target=image.target, platform=image.platform, pull=False, nocache=self.no_cache,
                on_output=on_output, cancel=self.stop, builder=self.builder)
        finally:
            leave = self._starting.pop(image.name, None)
            if leave is not None:
                leave()

    def _import(self, image: ImageSpec, step: Step) -> str:
        first = step.references[0]
        repository, _, tag = first.rpartition(":")
        labels = build_labels(self.manifest, image, step)
        return self.engine.import_image(str(image.import_path), repository, tag, labels=labels)

    def run(self, *, jobs: int, keep_going: bool) -> List[ImageResult]:
        for s in self.plan.steps:
            self.progress(Event(s.name, "waiting", text=s.reason))
        parents = self.plan.parents_map()
        weights = self.expected_durations()
        if self.gate is not None:
            self._urgency = critical_path_lengths(dependency_graph(parents), weights)
        results = execute(parents, self.work, jobs=jobs, keep_going=keep_going, stop=self.stop,
                          on_finish=self._on_finish, weights=weights)
        return [self._result(results[s.name]) for s in self.plan.steps]

    def expected_durations(self) -> Dict[str, float]:
        """How long each image is expected to take, for the executor's critical path: the
        recorded duration for an image to build (when there is one), nothing for a cached one."""
        weights: Dict[str, float] = {}
        for s in self.plan.steps:
            if s.action == "cached":
                weights[s.name] = 0.0
            elif self.records is not None:
                duration = (self.records.get(s.name) or {}).get("duration_s")
                if isinstance(duration, (int, float)) and duration >= 0:
                    weights[s.name] = self._previous[s.name] = float(duration)
        return weights

    def _typical_duration(self, name: str, took: float) -> float:
        """What to record as an image's duration: this build's, without its wait at the gate,
        averaged with the one recorded before, so that one slow or lucky run on a busy engine
        does not reorder the next run."""
        before = self._previous.get(name)
        return round(took if before is None else (before + took) / 2, 3)

    def partial_results(self) -> List[ImageResult]:
        """What is known after an interruption: finished images as they ended, the rest skipped."""
        out = []
        for s in self.plan.steps:
            r = self.finished.get(s.name) or NodeResult(s.name, "cancelled", cause="build interrupted")
            out.append(self._result(r))
        return out

    def _on_finish(self, r: NodeResult) -> None:
        self.finished[r.name] = r
        if r.status == "failed":
            self.progress(Event(r.name, "failed", text=_message(r.error), duration_s=r.duration_s))
        elif r.status == "skipped":
            self.progress(Event(r.name, "skipped", text=r.cause or ""))
        elif r.status == "cancelled":
            self.progress(Event(r.name, "cancelled", text=r.cause or ""))

    def _result(self, r: NodeResult) -> ImageResult:
        step = self.plan.step(r.name)
        if r.status == "done":
            return r.value
        # The report knows built, cached, failed and skipped: an image never started because the
        # run stopped (fail-fast, Ctrl-C) is skipped, with the cause as its reason.
        status = "skipped" if r.status == "cancelled" or isinstance(r.error, Cancelled) else r.status
        log_path = str(self.logs.path(r.name)) if r.status == "failed" else None
        return ImageResult(r.name, status, r.duration_s, None, step.references, step.cache_key,
                           r.cause or step.reason, error=_message(r.error) if r.error else None, log_path=log_path)


def _step_of(line: str) -> Optional[Tuple[int, int]]:
    """(k, n) when a build log line starts step k of n, in either builder's words."""
    m = _STEP_RE.match(line)
    if m:
        return int(m.group(1)), int(m.group(2))
    return buildkit_step(line)


def _message(error: Optional[BaseException]) -> str:
    if error is None:
        return ""
    if isinstance(error, ImagesError):
        return str(error)
    return f"{type(error).__name__}: {error}"
