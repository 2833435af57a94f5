"""The ready-queue executor, driven with plain names and fake work.

Where a test needs two things to overlap it uses events and barriers: a missing overlap shows up
as a timed-out wait (the node fails), never as a timing assertion.
"""
from __future__ import annotations

import signal
import threading

import pytest

from builder.run import executor
from builder.run.executor import NodeResult, execute

TIMEOUT = 5.0  # only ever reached when the behaviour under test is broken


class Recorder:
    """Fake work: records start/end order and runs per-node hooks."""

    def __init__(self, hooks=None, fail=()):
        self.hooks = hooks or {}
        self.fail = set(fail)
        self.events = []
        self.lock = threading.Lock()
        self.current = 0
        self.max_concurrent = 0

    def __call__(self, name):
        with self.lock:
            self.events.append(("start", name))
            self.current += 1
            self.max_concurrent = max(self.max_concurrent, self.current)
        try:
            if name in self.hooks:
                self.hooks[name]()
            if name in self.fail:
                raise RuntimeError(f"{name} broke")
            return name.upper()
        finally:
            with self.lock:
                self.current -= 1
                self.events.append(("end", name))

    def index(self, kind, name):
        return self.events.index((kind, name))

    def started(self):
        return [name for kind, name in self.events if kind == "start"]


def statuses(results):
    return {name: r.status for name, r in results.items()}


def wait_for(event):
    assert event.wait(TIMEOUT), "the event this node waits for never came"


def test_chain_runs_in_order_and_returns_values():
    work = Recorder()
    results = execute({"c": ["b"], "b": ["a"], "a": []}, work, jobs=4)
    assert work.events == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b"),
                           ("start", "c"), ("end", "c")]
    assert list(results) == ["c", "b", "a"]  # the caller's order
    assert results["b"] == NodeResult("b", "done", value="B", duration_s=results["b"].duration_s)


def test_diamond_child_waits_for_both_parents():
    work = Recorder()
    results = execute({"base": [], "left": ["base"], "right": ["base"], "leaf": ["left", "right"]},
                      work, jobs=4)
    assert set(statuses(results).values()) == {"done"}
    assert work.index("start", "left") > work.index("end", "base")
    assert work.index("start", "right") > work.index("end", "base")
    assert work.index("start", "leaf") > max(work.index("end", "left"), work.index("end", "right"))


def test_independent_nodes_run_at_the_same_time():
    both_inside = threading.Barrier(2, timeout=TIMEOUT)
    work = Recorder(hooks={"a": both_inside.wait, "b": both_inside.wait})
    results = execute({"a": [], "b": []}, work, jobs=2)
    assert statuses(results) == {"a": "done", "b": "done"}


def test_child_starts_while_an_unrelated_slow_node_still_runs():
    # Generations are {a, c} then {b}: with a barrier between them, b could not start before c ends.
    b_started = threading.Event()
    work = Recorder(hooks={"b": b_started.set, "c": lambda: wait_for(b_started)})
    results = execute({"a": [], "b": ["a"], "c": []}, work, jobs=2)
    assert statuses(results) == {"a": "done", "b": "done", "c": "done"}
    assert work.index("start", "b") < work.index("end", "c")


def test_jobs_caps_concurrency():
    # Nodes pass in threes: fewer than 3 at a time times the barrier out, more shows in the count.
    three_at_a_time = threading.Barrier(3, timeout=TIMEOUT)
    names = [f"n{i}" for i in range(9)]
    work = Recorder(hooks={n: three_at_a_time.wait for n in names})
    results = execute({n: [] for n in names}, work, jobs=3)
    assert set(statuses(results).values()) == {"done"}
    assert work.max_concurrent == 3


def test_jobs_one_runs_one_at_a_time():
    work = Recorder()
    execute({f"n{i}": [] for i in range(6)}, work, jobs=1)
    assert work.max_concurrent == 1


def test_critical_path_first_then_name():
    work = Recorder()
    execute({"a": [], "z1": [], "z2": ["z1"], "z3": ["z2"], "b": []}, work, jobs=1)
    assert work.started() == ["z1", "z2", "a", "b", "z3"]


def test_weights_measure_the_critical_path_in_time():
    # By node count z1 -> z2 -> z3 is the longest chain; by the recorded times "slow" is.
    parents = {"slow": [], "z1": [], "z2": ["z1"], "z3": ["z2"], "fast": []}
    work = Recorder()
    execute(parents, work, jobs=1, weights={"slow": 9.0, "z1": 1.0, "z2": 1.5, "z3": 2.0, "fast": 0.1})
    assert work.started()[:2] == ["slow", "z1"]
    # A node without a weight counts as 1; a cached one (0) does not lengthen its chain.
    assert executor.critical_path_lengths(executor.dependency_graph(parents),
                                          {"z1": 0.0, "z2": 2.5}) == {
        "slow": 1.0, "z1": 3.5, "z2": 3.5, "z3": 1.0, "fast": 1.0}


def test_fail_fast_lets_running_work_finish_and_starts_nothing_new():
    bad_failed = threading.Event()

    def on_finish(result):
        if result.name == "bad":
            bad_failed.set()

    # bad has the longest path, so bad and a_slow start first; z_later waits for a free worker.
    work = Recorder(hooks={"a_slow": lambda: wait_for(bad_failed)}, fail={"bad"})
    results = execute({"bad": [], "child": ["bad"], "a_slow": [], "z_later": []}, work, jobs=2,
                      on_finish=on_finish)
    assert statuses(results) == {"bad": "failed", "child": "skipped", "a_slow": "done", "z_later": "cancelled"}
    assert results["child"].cause == "parent 'bad' failed"
    assert results["z_later"].cause == "build stopped after 'bad' failed"
    assert "z_later" not in work.started()
    assert str(results["bad"].error) == "bad broke"


def test_keep_going_skips_only_dependents_of_the_failure():
    graph = {
        "base": [],
        "mid1": ["base"],
        "mid2": ["base"],
        "leaf": ["mid1", "mid2"],
        "top": ["leaf"],
        "other": ["mid2"],
        "solo": [],
        "bad": [],
        "bad-child": ["bad"],
    }
    work = Recorder(fail={"mid1", "bad"})
    results = execute(graph, work, jobs=2, keep_going=True)
    assert statuses(results) == {
        "base": "done", "mid1": "failed", "mid2": "done", "leaf": "skipped", "top": "skipped",
        "other": "done", "solo": "done", "bad": "failed", "bad-child": "skipped",
    }
    assert results["leaf"].cause == "parent 'mid1' failed"
    assert results["top"].cause == "ancestor 'mid1' failed"
    assert results["bad-child"].cause == "parent 'bad' failed"
    assert not {"leaf", "top", "bad-child"} & set(work.started())


def test_exception_is_captured_as_the_failure():
    error = KeyError("missing")

    def work(name):
        if name == "x":
            raise error
        return 1

    results = execute({"x": [], "y": []}, work, jobs=2, keep_going=True)
    assert results["x"].status == "failed" and results["x"].error is error and results["x"].value is None
    assert results["y"].status == "done" and results["y"].error is None


def test_callbacks_see_every_start_and_exactly_one_finish_per_node():
    started, finished = [], []
    execute({"a": [], "b": ["a"], "c": ["b"], "d": []}, Recorder(fail={"b"}), jobs=1,
            on_start=started.append, on_finish=lambda r: finished.append((r.name, r.status)))
    assert started == ["a", "b"]
    assert sorted(finished) == [("a", "done"), ("b", "failed"), ("c", "skipped"), ("d", "cancelled")]


def test_stop_event_cancels_unstarted_and_waits_for_running_work():
    stop = threading.Event()
    b_running = threading.Event()

    def stop_after_b_started():
        wait_for(b_running)
        stop.set()

    def b_honours_the_token():
        b_running.set()
        wait_for(stop)

    work = Recorder(hooks={"a": stop_after_b_started, "b": b_honours_the_token})
    results = execute({"a": [], "b": [], "a-child": ["a"], "c": [], "d": []}, work, jobs=2, stop=stop)
    assert statuses(results) == {"a": "done", "b": "done", "a-child": "cancelled", "c": "cancelled",
                                 "d": "cancelled"}
    assert results["c"].cause == "build interrupted"
    assert sorted(work.started()) == ["a", "b"]
    assert ("end", "b") in work.events  # execute returned only after b did


def test_work_that_raises_after_stop_is_cancelled_not_failed():
    stop = threading.Event()

    def cancelled(_name):
        stop.set()
        raise RuntimeError("cancelled by token")

    results = execute({"a": [], "b": ["a"]}, cancelled, jobs=1, stop=stop)
    assert statuses(results) == {"a": "cancelled", "b": "cancelled"}
    assert str(results["a"].error) == "cancelled by token"


def test_stop_set_before_start_runs_nothing():
    stop = threading.Event()
    stop.set()
    work = Recorder()
    results = execute({"a": [], "b": ["a"]}, work, jobs=2, stop=stop)
    assert statuses(results) == {"a": "cancelled", "b": "cancelled"}
    assert work.events == []


def test_ctrl_c_between_two_starts_still_reports_every_node():
    stop = threading.Event()

    def on_start(name):
        if name == "b":
            raise KeyboardInterrupt

    finished = {}
    work = Recorder(hooks={"a": lambda: wait_for(stop)})
    with pytest.raises(KeyboardInterrupt):
        execute({"a": [], "b": [], "c": []}, work, jobs=2, stop=stop, on_start=on_start,
                on_finish=lambda r: finished.setdefault(r.name, r))
    assert {n: r.status for n, r in finished.items()} == {"a": "done", "b": "cancelled", "c": "cancelled"}
    assert work.started() == ["a"]


needs_pthread_kill = pytest.mark.skipif(
    not hasattr(signal, "pthread_kill") or signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="needs POSIX pthread_kill and Python's default SIGINT handler")


def interrupt_main_thread():
    # A real SIGINT aimed at the main thread, which is blocked in execute()'s wait.
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


@needs_pthread_kill
def test_ctrl_c_sets_stop_waits_for_running_work_and_reraises():
    stop = threading.Event()

    def press_ctrl_c_then_honour_the_token():
        interrupt_main_thread()
        wait_for(stop)

    finished = {}
    work = Recorder(hooks={"a": press_ctrl_c_then_honour_the_token})
    with pytest.raises(KeyboardInterrupt):
        execute({"a": [], "b": ["a"], "c": []}, work, jobs=1, stop=stop,
                on_finish=lambda r: finished.setdefault(r.name, r))
    assert stop.is_set()
    assert {n: r.status for n, r in finished.items()} == {"a": "done", "b": "cancelled", "c": "cancelled"}
    assert work.started() == ["a"]


@needs_pthread_kill
def test_ctrl_c_gives_up_on_work_that_ignores_the_token(monkeypatch):
    monkeypatch.setattr(executor, "INTERRUPT_GRACE_S", 0.05)
    release = threading.Event()

    def press_ctrl_c_then_hang():
        interrupt_main_thread()
        wait_for(release)

    finished = {}
    try:
        with pytest.raises(KeyboardInterrupt):
            execute({"stuck": [], "next": ["stuck"]}, Recorder(hooks={"stuck": press_ctrl_c_then_hang}), jobs=1,
                    on_finish=lambda r: finished.setdefault(r.name, r))
        assert not release.is_set()
        assert finished["stuck"].status == "cancelled"
        assert finished["stuck"].cause == "build interrupted while this was running"
        assert finished["next"].status == "cancelled"
    finally:
        release.set()


@pytest.mark.parametrize("graph, message", [
    ({"a": ["b"], "b": ["a"]}, r"dependency cycle: (a -> b -> a|b -> a -> b)$"),
    ({"a": ["a"]}, r"dependency cycle: a -> a$"),
    ({"a": [], "b": ["a", "c"], "c": ["b"]}, r"dependency cycle: (b -> c -> b|c -> b -> c)$"),
    ({"a": ["ghost"]}, r"'a' depends on unknown node 'ghost'"),
])
def test_invalid_graph_is_rejected(graph, message):
    work = Recorder()
    with pytest.raises(ValueError, match=message):
        execute(graph, work, jobs=2)
    assert work.events == []


def test_jobs_must_be_positive():
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        execute({"a": []}, Recorder(), jobs=0)


def test_empty_graph():
    assert execute({}, Recorder(), jobs=3) == {}
