"""Builds start in critical-path order, a few at a time (builder.run.build.StartGate), and the
last build's duration steers the next run's critical path."""
from __future__ import annotations

import textwrap
import threading
import time
from typing import Dict, List

import pytest

from builder.errors import Cancelled
from builder.manifest import load_manifest
from builder.plan.graph import build_graph
from builder.plan.plan import make_plan
from builder.plan.state import BuildRecords, EngineState
from builder.run.build import Builder, StartGate
from builder.run.logs import LogStore

TIMEOUT = 5.0


def test_the_gate_lets_in_at_most_its_slots_in_arrival_order():
    gate, stop = StartGate(2), threading.Event()
    first, second = gate.enter(stop), gate.enter(stop)
    entered: List[str] = []

    def wait_in(name: str) -> None:
        leave = gate.enter(stop)
        entered.append(name)
        leave()

    third = threading.Thread(target=wait_in, args=("third",))
    third.start()
    time.sleep(0.05)                       # third is queued first...
    fourth = threading.Thread(target=wait_in, args=("fourth",))
    fourth.start()
    time.sleep(0.2)
    assert entered == []                   # ...and both wait while two are inside
    first()
    first()                                # leaving twice gives back one slot only
    third.join(TIMEOUT)
    fourth.join(TIMEOUT)
    assert entered == ["third", "fourth"]
    second()
    gate.enter(stop)(), gate.enter(stop)()  # both slots are free again


def test_the_most_urgent_waiting_build_goes_first():
    gate, stop = StartGate(1), threading.Event()
    leave = gate.enter(stop)
    entered: List[str] = []
    threads = []
    for name, urgency in (("short", 1.0), ("long", 5.0), ("middle", 3.0), ("middle-later", 3.0)):
        def wait_in(name=name, urgency=urgency) -> None:
            leave_again = gate.enter(stop, urgency)
            entered.append(name)
            leave_again()
        threads.append(threading.Thread(target=wait_in))
        threads[-1].start()
        time.sleep(0.05)
    leave()
    for thread in threads:
        thread.join(TIMEOUT)
    assert entered == ["long", "middle", "middle-later", "short"]


def test_a_build_that_keeps_its_slot_too_long_lets_the_next_one_in():
    gate, stop = StartGate(1, hold_s=0.3), threading.Event()
    started = time.monotonic()
    gate.enter(stop)                       # never left, as a long pull of a base image
    gate.enter(stop)()
    assert 0.3 <= time.monotonic() - started < 0.3 + TIMEOUT / 5


def test_a_stop_while_waiting_cancels_and_lets_the_others_on():
    gate, stop = StartGate(1), threading.Event()
    leave = gate.enter(stop)
    failures: List[BaseException] = []

    def wait_in() -> None:
        try:
            gate.enter(stop)
        except Cancelled as exc:
            failures.append(exc)

    waiter = threading.Thread(target=wait_in)
    waiter.start()
    time.sleep(0.05)
    stop.set()
    waiter.join(TIMEOUT)
    assert [type(f) for f in failures] == [Cancelled]
    leave()
    assert callable(StartGate(1).enter(threading.Event()))


# -- the Builder with an engine that only pretends --------------------------------------------


class StepEngine:
    """Builds by printing the step lines it is given; counts the builds between their start
    and their first RUN step, and the order they started in."""

    endpoint = "unix:///fake.sock"

    def __init__(self, lines: Dict[str, List[str]]):
        self.lines = lines
        self.lock = threading.Lock()
        self.starting = 0
        self.most_starting = 0
        self.order: List[str] = []

    def tag(self, image_id: str, reference: str) -> None:
        pass

    def inspect_image(self, reference: str):
        return None

    def build(self, stream, *, on_output, **options) -> str:
        data = b"".join(stream)
        name = data.split(b"# image ", 1)[1].split(b"\n", 1)[0].decode()
        with self.lock:
            self.order.append(name)
            self.starting += 1
            self.most_starting = max(self.most_starting, self.starting)
        time.sleep(0.05)
        running = False
        for line in self.lines[name]:
            if " RUN " in line and not running:
                with self.lock:
                    self.starting -= 1
                running = True
            on_output(line)
            time.sleep(0.01)
        if not running:
            with self.lock:
                self.starting -= 1
        return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


@pytest.fixture
def project(tmp_path):
    names = [f"leaf{i}" for i in range(6)]
    (tmp_path / "images.yaml").write_text(textwrap.dedent("""\
        version: 1
        images:
        """) + "".join(f"  {n}: {{context: {n}}}\n" for n in names))
    for n in names:
        (tmp_path / n).mkdir()
        (tmp_path / n / "Dockerfile").write_text(f"# image {n}\nFROM scratch\nRUN true\n")
    graph = build_graph(load_manifest(tmp_path / "images.yaml"))
    plan = make_plan(graph, names, state=EngineState())
    return graph.manifest, plan, names, tmp_path


def make_builder(project, engine, records, progress=lambda event: None, **options) -> Builder:
    manifest, plan, _, root = project
    return Builder(manifest, plan, engine, progress=progress, logs=LogStore(root / "logs"),
                   records=records, **options)


def test_every_step_of_either_builder_is_a_progress_step(project):
    _, _, names, _ = project
    lines = ["#1 [internal] load remote build context", "#3 [1/3] FROM docker.io/library/x",
             "#4 [2/3] COPY . /src", "#5 [3/3] RUN make", "#5 0.100 cc main.c",
             "Step 1/2 : FROM scratch", "Step 2/2 : RUN true"]
    events = []
    make_builder(project, StepEngine({n: lines for n in names}), None, progress=events.append,
                 start_slots=1).run(jobs=2, keep_going=False)
    steps = [(e.step, e.steps, e.text) for e in events if e.image == names[0] and e.kind == "step"]
    assert steps == [(1, 3, lines[1]), (2, 3, lines[2]), (3, 3, lines[3]), (1, 2, lines[5]), (2, 2, lines[6])]
    logs = [e.text for e in events if e.image == names[0] and e.kind == "log"]
    assert logs == [lines[0], lines[4]]


def test_builds_leave_the_gate_at_their_first_run_step(project):
    _, _, names, root = project
    steps = ["#1 [internal] load remote build context", "#3 [1/2] FROM docker.io/library/x",
             "#4 [2/2] RUN true", "#4 0.100 output"]
    engine = StepEngine({n: steps for n in names})
    results = make_builder(project, engine, None, start_slots=2).run(jobs=6, keep_going=False)
    assert {r.status for r in results} == {"built"}
    assert engine.most_starting == 2

    ungated = StepEngine({n: steps for n in names})
    make_builder(project, ungated, None).run(jobs=6, keep_going=False)
    assert ungated.most_starting > 2       # without a gate they all start at once


def test_the_recorded_durations_order_the_next_run(project):
    _, _, names, root = project
    records = BuildRecords(root / "records")
    engine = StepEngine({n: ["Step 1/2 : FROM scratch", "Step 2/2 : RUN true"] for n in names})
    make_builder(project, engine, records).run(jobs=1, keep_going=False)
    assert engine.order == names           # no history: by name
    durations = {n: records.get(n)["duration_s"] for n in names}
    assert all(d > 0 for d in durations.values())

    for n, took in zip(names, [0.5, 3.0, 0.2, 9.0, 1.0, 2.0]):
        records.put(n, {**records.get(n), "duration_s": took})
    builder = make_builder(project, StepEngine(engine.lines), records)
    assert builder.expected_durations() == dict(zip(names, [0.5, 3.0, 0.2, 9.0, 1.0, 2.0]))
    builder.run(jobs=1, keep_going=False)
    assert builder.engine.order == ["leaf3", "leaf1", "leaf5", "leaf4", "leaf0", "leaf2"]
