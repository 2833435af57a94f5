"""A dependency-ordered parallel executor over a graph of names and a callable.

It does not know what it runs: nodes are plain names, ``work(name)`` does the job. A node starts
as soon as all its parents are done (a ready queue, no per-generation barrier), at most ``jobs``
at a time. The scheduler blocks in ``concurrent.futures.wait(FIRST_COMPLETED)``; it never polls.

Outcomes per node:

- ``done``: ``work`` returned; ``value`` holds what it returned.
- ``failed``: ``work`` raised; ``error`` holds the exception.
- ``skipped``: an ancestor failed; ``cause`` names it (``parent 'mid1' failed``).
- ``cancelled``: never started because the build stopped (fail-fast, ``stop`` or Ctrl-C), or was
  still running when the build was interrupted, or raised after ``stop`` was set.
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import networkx as nx

log = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"
CANCELLED = "cancelled"

#: After Ctrl-C, how long execute() waits for running work to return before re-raising.
INTERRUPT_GRACE_S = 4.0

INTERRUPTED = "build interrupted"
INTERRUPTED_WHILE_RUNNING = "build interrupted while this was running"


@dataclass(frozen=True)
class NodeResult:
    name: str
    status: str  # "done" | "failed" | "skipped" | "cancelled"
    value: Any = None  # what work() returned
    error: Optional[BaseException] = None
    cause: Optional[str] = None  # why it was skipped or cancelled
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == DONE


def execute(
    parents: Mapping[str, Iterable[str]],
    work: Callable[[str], Any],
    *,
    jobs: int,
    keep_going: bool = False,
    stop: Optional[threading.Event] = None,
    on_start: Optional[Callable[[str], None]] = None,
    on_finish: Optional[Callable[[NodeResult], None]] = None,
    weights: Optional[Mapping[str, float]] = None,
) -> Dict[str, NodeResult]:
    """Run ``work(name)`` for every node of ``parents``, parents before children.

    ``parents`` maps every node to its parents; every parent must itself be a key. Among ready
    nodes the one with the longest chain of descendants starts first (critical path), then by
    name. ``weights`` gives the expected duration of some nodes (the last build's, say), so that
    the chain is measured in time rather than in nodes; a node without one weighs 1.

    Fail-fast by default: after the first failure nothing new starts, running work finishes,
    dependents of the failure are ``skipped`` and every other unstarted node is ``cancelled``.
    With ``keep_going`` everything that does not depend on a failure still runs.

    ``stop``, when set by the caller, stops scheduling: unstarted nodes are ``cancelled`` and
    execute() returns once running work has returned. Running work gets no handle from here; the
    caller gives ``work`` its own cancel token (usually this same event) so that it returns
    promptly. Work that raises once ``stop`` is set is reported ``cancelled`` (error kept).

    A KeyboardInterrupt that reaches execute() sets ``stop``, waits up to
    ``INTERRUPT_GRACE_S`` for running work, reports what did not return as ``cancelled``
    through ``on_finish``, and is re-raised.

    ``on_start`` and ``on_finish`` are called from the calling thread, one at a time;
    ``on_finish`` exactly once per node. Returns a result per node, in the order of ``parents``.
    Raises ValueError for an unknown parent or a cycle, and for ``jobs`` < 1.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    graph = dependency_graph(parents)
    scheduler = _Scheduler(graph, work, jobs=jobs, keep_going=keep_going,
                           stop=stop if stop is not None else threading.Event(),
                           on_start=on_start, on_finish=on_finish, weights=weights)
    results = scheduler.run()
    return {name: results[name] for name in graph}


def dependency_graph(parents: Mapping[str, Iterable[str]]) -> "nx.DiGraph":
    """The graph of ``parents`` with edges from parent to child; ValueError if it is not a DAG."""
    graph = nx.DiGraph()
    graph.add_nodes_from(parents)
    for child, child_parents in parents.items():
        for parent in child_parents:
            if parent not in parents:
                raise ValueError(f"{child!r} depends on unknown node {parent!r}")
            graph.add_edge(parent, child)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    path = [str(u) for u, _ in cycle] + [str(cycle[0][0])]
    raise ValueError("dependency cycle: " + " -> ".join(path))


def critical_path_lengths(graph: "nx.DiGraph",
                          weights: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
    """For each node, the length of the longest path from it down to a leaf, itself included:
    the sum of the weights of the nodes on it (1 for a node ``weights`` does not give)."""
    weights = weights or {}
    height: Dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        height[node] = max(0.0, float(weights.get(node, 1))) + max(
            (height[c] for c in graph.successors(node)), default=0)
    return height


# What a worker hands back: (value, error, duration_s).
_Outcome = Tuple[Any, Optional[BaseException], float]


def _timed(work: Callable[[str], Any], name: str) -> _Outcome:
    started = time.monotonic()
    try:
        value = work(name)
    except BaseException as exc:  # noqa: B902 - anything work raises is the node's failure
        return None, exc, time.monotonic() - started
    return value, None, time.monotonic() - started


def _run_into(future: Future, work: Callable[[str], Any], name: str) -> None:
    future.set_result(_timed(work, name))


class _Scheduler:
    def __init__(self, graph: "nx.DiGraph", work: Callable[[str], Any], *, jobs: int, keep_going: bool,
                 stop: threading.Event, on_start: Optional[Callable[[str], None]],
                 on_finish: Optional[Callable[[NodeResult], None]],
                 weights: Optional[Mapping[str, float]] = None):
        self.graph = graph
        self.work = work
        self.jobs = jobs
        self.keep_going = keep_going
        self.stop = stop
        self.on_start = on_start
        self.on_finish = on_finish
        # A stable order for marking many nodes at once, so callbacks arrive deterministically.
        self.order = {n: i for i, n in enumerate(nx.lexicographical_topological_sort(graph, key=str))}
        height = critical_path_lengths(graph, weights)
        self.priority = {n: (-height[n], n) for n in graph}
        self.unfinished_parents = {n: graph.in_degree(n) for n in graph}
        self.ready_queue: List[Tuple[Tuple[float, str], str]] = [
            (self.priority[n], n) for n in graph if self.unfinished_parents[n] == 0]
        heapq.heapify(self.ready_queue)
        self.running: Dict[Future, str] = {}
        self.results: Dict[str, NodeResult] = {}
        self.first_failure: Optional[str] = None

    def run(self) -> Dict[str, NodeResult]:
        if not self.graph:
            return {}
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="images-job")
        join_workers = True
        try:
            try:
                self._loop(pool)
            except KeyboardInterrupt:
                join_workers = False
                self._interrupted()
                raise
        finally:
            # After an interrupt, work that ignored the cancel token is not waited for again.
            pool.shutdown(wait=join_workers, cancel_futures=True)
        return self.results

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        while True:
            self._schedule(pool)
            if not self.running:
                return
            finished, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
            self._collect(finished)

    def _stop_reason(self) -> Optional[str]:
        if self.stop.is_set():
            return INTERRUPTED
        if self.first_failure is not None and not self.keep_going:
            return f"build stopped after '{self.first_failure}' failed"
        return None

    def _schedule(self, pool: ThreadPoolExecutor) -> None:
        while True:
            reason = self._stop_reason()
            if reason is not None:
                self._cancel_unstarted(reason)
                return
            if not self.ready_queue or len(self.running) >= self.jobs:
                return
            _, name = heapq.heappop(self.ready_queue)
            if name in self.results:  # marked skipped or cancelled meanwhile
                continue
            if self.on_start is not None:
                self.on_start(name)
            # The future is ours and registered before the work can start, so a Ctrl-C that
            # lands inside submit() cannot lose track of work that is already running.
            future: Future = Future()
            self.running[future] = name
            pool.submit(_run_into, future, self.work, name)

    def _collect(self, finished: Iterable[Future]) -> None:
        for future in sorted(finished, key=lambda f: self.running[f]):
            name = self.running[future]
            if name not in self.results:
                self._finished(name, future.result())
            del self.running[future]

    def _finished(self, name: str, outcome: _Outcome) -> None:
        value, error, duration = outcome
        if error is None:
            self._record(NodeResult(name, DONE, value=value, duration_s=duration))
            for child in self.graph.successors(name):
                self.unfinished_parents[child] -= 1
                if self.unfinished_parents[child] == 0 and child not in self.results:
                    heapq.heappush(self.ready_queue, (self.priority[child], child))
            return
        if self.stop.is_set():
            # Most likely the work honouring the cancel token; not a failure of its own.
            self._record(NodeResult(name, CANCELLED, error=error, cause=INTERRUPTED, duration_s=duration))
            return
        log.debug("%s failed", name, exc_info=error)
        self._record(NodeResult(name, FAILED, error=error, duration_s=duration))
        if self.first_failure is None:
            self.first_failure = name
        for node in self._in_order(nx.descendants(self.graph, name)):
            if node not in self.results:
                kind = "parent" if self.graph.has_edge(name, node) else "ancestor"
                self._record(NodeResult(node, SKIPPED, cause=f"{kind} '{name}' failed"))

    def _cancel_unstarted(self, cause: str) -> None:
        running = set(self.running.values())
        for node in self._in_order(self.graph):
            if node not in self.results and node not in running:
                self._record(NodeResult(node, CANCELLED, cause=cause))
        self.ready_queue.clear()

    def _interrupted(self) -> None:
        self.stop.set()
        self._cancel_unstarted(INTERRUPTED)
        if self.running:
            finished, _ = wait(list(self.running), timeout=INTERRUPT_GRACE_S)
            self._collect(finished)
        for name in sorted(self.running.values()):
            if name not in self.results:
                log.debug("%s still running after the interrupt grace period", name)
                self._record(NodeResult(name, CANCELLED, cause=INTERRUPTED_WHILE_RUNNING))
        # Children made ready by work that returned during the grace period.
        self._cancel_unstarted(INTERRUPTED)

    def _in_order(self, nodes: Iterable[str]) -> List[str]:
        return sorted(nodes, key=self.order.__getitem__)

    def _record(self, result: NodeResult) -> None:
        self.results[result.name] = result
        if self.on_finish is not None:
            self.on_finish(result)
