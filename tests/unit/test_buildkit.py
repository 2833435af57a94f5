"""Reading BuildKit's progress as the engine sends it (builder.engine.buildkit)."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import List

import pytest

from builder.engine.buildkit import (TRACE_ID, TraceError, TraceRenderer, decode_status,
                                     error_message, exit_code, step_of)

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "buildkit" / "failed-run.jsonl"


# A few lines of protobuf encoding, to write the messages the tests need.
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _stamp(seconds: float) -> bytes:
    return _field(1, int(seconds)) + _field(2, int(round((seconds % 1) * 1e9)))


def vertex(digest: str, name: str = "", *, cached: bool = False, started: float = None,
           completed: float = None, error: str = "") -> bytes:
    body = _field(1, digest) + (_field(3, name) if name else b"")
    body += _field(4, 1) if cached else b""
    body += _field(5, _stamp(started)) if started is not None else b""
    body += _field(6, _stamp(completed)) if completed is not None else b""
    body += _field(7, error) if error else b""
    return _field(1, body)


def log(digest: str, at: float, msg: bytes) -> bytes:
    return _field(3, _field(1, digest) + _field(2, _stamp(at)) + _field(3, 1) + _field(4, msg))


def aux(*parts: bytes) -> str:
    return base64.b64encode(b"".join(parts)).decode()


def render(*messages: str) -> List[str]:
    lines: List[str] = []
    renderer = TraceRenderer(lines.append)
    for message in messages:
        renderer.feed(message)
    return lines


def test_a_recorded_failing_build_reads_as_docker_build_plain_progress():
    lines = render(*[m["aux"] for m in map(json.loads, RECORDED.read_text().splitlines())
                     if m.get("id") == TRACE_ID])
    assert lines == [
        "#1 [internal] load remote build context",
        "#1 DONE 0.0s",
        "#2 copy /context /",
        "#2 DONE 0.0s",
        "#3 [1/3] COPY busybox /bin/busybox",
        "#3 DONE 0.0s",
        '#4 [2/3] RUN ["/bin/busybox","sh","-c","echo first line; echo partial-no-newline >&2; '
        '/bin/busybox printf tail"]',
        "#4 0.133 first line",
        "#4 0.133 partial-no-newline",
        "#4 tail",
        "#4 DONE 0.2s",
        '#5 [3/3] RUN ["/bin/busybox","sh","-c","echo about-to-fail; exit 3"]',
        "#5 0.297 about-to-fail",
        "#5 ERROR: executor failed running [/bin/busybox sh -c echo about-to-fail; exit 3]: exit code: 3",
    ]


def test_the_recorded_error_gives_the_exit_code():
    last = json.loads(RECORDED.read_text().splitlines()[-1])
    message = last["errorDetail"]["message"]
    assert exit_code(message) == 3
    assert error_message(message) == message


def test_a_vertex_is_named_once_when_it_starts_and_numbered_in_order_of_appearance():
    lines = render(
        aux(vertex("sha256:a", "[1/2] COPY . /src"), vertex("sha256:b", "[2/2] RUN make")),
        aux(vertex("sha256:a", "[1/2] COPY . /src", started=10.0)),
        aux(vertex("sha256:a", "[1/2] COPY . /src", started=10.0, completed=10.25)),
        aux(vertex("sha256:b", "[2/2] RUN make", started=10.3)),
        aux(log("sha256:b", 10.5, b"cc -o app main.c\nlinking"), log("sha256:b", 10.6, b"...done\n")),
        aux(vertex("sha256:b", "[2/2] RUN make", started=10.3, completed=12.3)),
        aux(vertex("sha256:b", "[2/2] RUN make", started=10.3, completed=12.3)),  # repeated: ignored
    )
    assert lines == [
        "#1 [1/2] COPY . /src",
        "#1 DONE 0.2s",
        "#2 [2/2] RUN make",
        "#2 0.200 cc -o app main.c",
        "#2 0.300 linking...done",
        "#2 DONE 2.0s",
    ]


def test_cached_vertexes_and_output_that_never_ends_its_line():
    lines = render(
        aux(vertex("sha256:c", "[1/1] FROM base", cached=True)),
        aux(vertex("sha256:d", "[2/2] RUN x", started=1.0)),
        aux(log("sha256:d", 1.5, b"no newline")),
        aux(vertex("sha256:d", "[2/2] RUN x", started=1.0, completed=2.0, error="exit code: 2")),
    )
    assert lines == ["#1 [1/1] FROM base", "#1 CACHED", "#2 [2/2] RUN x", "#2 no newline",
                     "#2 ERROR: exit code: 2"]


def test_output_of_a_vertex_not_yet_named_is_not_lost():
    assert render(aux(log("sha256:e", 3.0, b"early\n"))) == ["#1 sha256:e", "#1 0.000 early"]


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"\x0a\xff").decode(),
                                 base64.b64encode(b"\x0f").decode()])
def test_a_message_that_is_not_a_status_response_is_a_trace_error(bad):
    with pytest.raises(TraceError):
        decode_status(bad)


def test_unknown_fields_are_skipped():
    extra = _field(2, _field(1, "status-vertex")) + _field(9, 42) + b"\x0d\x00\x00\x00\x00"
    vertexes, logs = decode_status(aux(extra, vertex("sha256:f", "[1/1] RUN y", started=0.5)))
    assert [(v.digest, v.name, v.started) for v in vertexes] == [("sha256:f", "[1/1] RUN y", 0.5)]
    assert logs == []


@pytest.mark.parametrize("line, step", [
    ("#4 [2/3] RUN make", (2, 3)),
    ("#12 [builder 10/12] COPY --from=x / /", (10, 12)),
    ("#1 [internal] load remote build context", None),
    ("#4 0.123 [2/3] printed by a step", None),
    ("Step 2/3 : RUN make", None),
    ("#x [2/3] RUN make", None),
])
def test_step_of(line, step):
    assert step_of(line) == step


@pytest.mark.parametrize("message, ours", [
    ("failed to solve with frontend dockerfile.v0: failed to read dockerfile: open "
     "/var/lib/docker/tmp/buildkit-mount1265270753/Dockerfile-v9: no such file or directory",
     "Cannot locate specified Dockerfile: Dockerfile-v9"),
    ("failed to solve with frontend dockerfile.v0: failed to create LLB definition: target stage "
     "nowhere could not be found", "failed to reach build target nowhere in Dockerfile"),
    ("failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse "
     "error line 4: unknown instruction: BOGUS", "dockerfile parse error line 4: unknown instruction: BOGUS"),
    ("no active sessions",    # what the engine says of RUN --mount=type=secret without a session
     "the build needs a client session (a RUN --mount of type secret or ssh), which images does not "
     "open: such mounts are not supported; pass the value another way"),
])
def test_error_messages_lose_the_solver_preamble(message, ours):
    assert error_message(message) == ours
    assert exit_code(message) is None


# -- which builder a build uses ---------------------------------------------------------------


def engine_speaking(api: str, os_name: str = "linux"):
    from builder.engine.docker_engine import DockerEngine

    engine = DockerEngine.__new__(DockerEngine)    # no connection: only what builder() reads
    engine.api_version, engine._builder = api, None
    engine.version = lambda: {"Os": os_name, "ApiVersion": api}
    return engine


@pytest.mark.parametrize("api, os_name, env, requested, chosen", [
    ("1.41", "linux", None, "auto", "buildkit"),
    ("1.38", "linux", None, "auto", "classic"),      # before Docker 18.09
    ("1.41", "windows", None, "auto", "classic"),
    ("1.41", "linux", "0", "auto", "classic"),
    ("1.41", "linux", "false", "auto", "classic"),
    ("1.38", "linux", "1", "auto", "buildkit"),      # as asked; the engine will say if it cannot
    ("1.41", "linux", "0", "buildkit", "buildkit"),  # the option wins over the environment
    ("1.41", "linux", "1", "classic", "classic"),
])
def test_the_builder_follows_the_option_then_docker_buildkit_then_the_engine(
        monkeypatch, api, os_name, env, requested, chosen):
    if env is None:
        monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    else:
        monkeypatch.setenv("DOCKER_BUILDKIT", env)
    assert engine_speaking(api, os_name).builder(requested) == chosen


def test_an_unknown_builder_is_an_engine_error():
    from builder.errors import EngineError

    with pytest.raises(EngineError, match="unknown builder 'kaniko'; use one of auto, buildkit, classic"):
        engine_speaking("1.41").builder("kaniko")


def test_start_slots_only_for_a_local_engine_running_more_builds_than_cpus(monkeypatch):
    from builder.cli.commands import start_slots

    class Engine:
        endpoint = "unix:///var/run/docker.sock"

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert start_slots(Engine(), 8) == 2
    assert start_slots(Engine(), 2) is None
    Engine.endpoint = "tcp://build-host:2376"
    assert start_slots(Engine(), 8) is None
