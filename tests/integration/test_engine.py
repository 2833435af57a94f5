"""The engine layer against the real Docker engine and the registry on 127.0.0.1:5000."""
from __future__ import annotations

import hashlib
import http.server
import json
import logging
import re
import tarfile
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from typing import Iterator, List, Optional, Tuple

import pytest

from builder.engine import DockerEngine, connect
from builder.engine.buildkit import step_of
from builder.errors import BuildError, Cancelled, EngineError, EngineUnavailable

pytestmark = pytest.mark.integration

STEP = re.compile(r"^Step (\d+)/(\d+) : ")
# BuildKit's plain lines: "#4 0.215 what the step printed".
BUILDKIT_LOG = re.compile(r"^#\d+ \d+\.\d{3} ")


@pytest.fixture(params=["classic", "buildkit"])
def builder(request) -> str:
    """Each build test runs with both of the engine's builders."""
    return request.param


def build(engine: DockerEngine, chunks: Iterator[bytes], **options) -> Tuple[str, List[str]]:
    lines: List[str] = []
    image_id = engine.build(chunks, on_output=lines.append, **options)
    return image_id, lines


def output(lines: List[str]) -> List[str]:
    """What the build's steps printed, without BuildKit's step number and time."""
    return [BUILDKIT_LOG.sub("", line) for line in lines]


def steps(lines: List[str]) -> List[Tuple[int, int]]:
    """(k, n) of each "step k of n" line, in either builder's words."""
    found = []
    for line in lines:
        match = STEP.match(line)
        step = (int(match.group(1)), int(match.group(2))) if match else step_of(line)
        if step is not None:
            found.append(step)
    return found


# -- build ---------------------------------------------------------------------------------


def test_build_streams_the_context_and_returns_the_image_id(builder, engine, case, busybox_context,
                                                             tar_stream):
    folder = busybox_context('RUN ["/bin/busybox", "sh", "-c", "echo built-by-test"]\n')

    image_id, lines = build(engine, builder=builder, chunks=tar_stream(folder), labels={"org.example.role": "demo"})

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    info = engine.inspect_image(image_id)
    assert info["Id"] == image_id
    assert info["Config"]["Labels"]["org.example.role"] == "demo"
    assert info["Config"]["Labels"]["images.test.case"] == case.token
    # The log arrives as whole lines, steps numbered as the caller's progress expects them.
    assert "built-by-test" in output(lines)
    assert all("\n" not in line for line in lines)
    numbered = steps(lines)
    assert [number for number, _ in numbered] == list(range(1, len(numbered) + 1))
    assert {total for _, total in numbered} == {len(numbered)}
    assert len(numbered) >= 2  # at least COPY busybox and the RUN


def test_auto_takes_the_engines_buildkit_unless_docker_buildkit_says_no(engine, monkeypatch):
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    assert engine.builder() == "buildkit"                  # a Linux engine with API >= 1.39
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    assert engine.builder() == "classic"
    assert engine.builder("buildkit") == "buildkit"


def test_build_leaves_no_tag_on_the_image(builder, engine, case, busybox_context, tar_stream):
    image_id, _ = build(engine, builder=builder, chunks=tar_stream(busybox_context()))
    assert engine.inspect_image(image_id)["RepoTags"] == []


def test_build_args_target_and_platform_reach_the_engine(builder, engine, case, busybox_context,
                                                         tar_stream):
    version = engine.version()
    platform = f"{version['Os']}/{version['Arch']}"
    folder = busybox_context(
        'ARG GREETING=unset\n'
        'RUN ["/bin/busybox", "sh", "-c", "echo greeting=$GREETING"]\n'
        'FROM first AS second\n'
        'RUN ["/bin/busybox", "false"]\n',
        stage="first")

    image_id, lines = build(engine, builder=builder, chunks=tar_stream(folder), buildargs={"GREETING": "hello"},
                            target="first", platform=platform)

    assert "greeting=hello" in output(lines)
    assert not any("busybox\", \"false" in line for line in lines)
    assert engine.inspect_image(image_id)["Architecture"] == version["Arch"]


def test_nocache_ignores_the_layer_cache(builder, engine, case, busybox_context, tar_stream):
    folder = busybox_context('RUN ["/bin/busybox", "true"]\n')
    build(engine, builder=builder, chunks=tar_stream(folder))

    _, cached_lines = build(engine, builder=builder, chunks=tar_stream(folder))
    _, fresh_lines = build(engine, builder=builder, chunks=tar_stream(folder), nocache=True)

    # The classic builder says "Using cache" under a step; BuildKit says "#N CACHED" of one.
    def reused(lines: List[str]) -> bool:
        run = [line.split(" ", 1)[0] for line in lines if step_of(line) and " RUN " in line]
        return any("Using cache" in line or line in {f"{n} CACHED" for n in run} for line in lines)

    assert reused(cached_lines)
    assert not reused(fresh_lines)


@pytest.mark.parametrize("body, message, code", [
    ('RUN ["/bin/busybox", "sh", "-c", "echo about-to-fail; exit 3"]\n',
     {"classic": "returned a non-zero code: 3", "buildkit": "exit code: 3"}, 3),
    ("BOGUS instruction\n", "unknown instruction: BOGUS", None),
    ("COPY missing.txt /missing.txt\n", "missing.txt", None),
], ids=["failing-run", "unknown-instruction", "missing-file"])
def test_a_failed_build_raises_build_error_with_the_engine_message(
        builder, engine, case, busybox_context, tar_stream, body, message, code):
    lines: List[str] = []
    with pytest.raises(BuildError) as failure:
        engine.build(tar_stream(busybox_context(body)), on_output=lines.append, builder=builder)

    assert (message[builder] if isinstance(message, dict) else message) in str(failure.value)
    assert failure.value.code == code
    assert failure.value.exit_code == 1
    if code == 3:
        assert "about-to-fail" in output(lines)


def test_a_missing_dockerfile_or_target_is_a_build_error(builder, engine, case, busybox_context,
                                                         tar_stream):
    folder = busybox_context()
    with pytest.raises(BuildError, match="Cannot locate specified Dockerfile: Dockerfile-v9"):
        engine.build(tar_stream(folder), dockerfile="Dockerfile-v9", builder=builder)
    with pytest.raises(BuildError, match="failed to reach build target nowhere"):
        engine.build(tar_stream(folder), target="nowhere", builder=builder)


def test_cancel_aborts_a_running_step_quickly_and_leaves_nothing_behind(
        builder, engine, case, busybox_context, tar_stream, docker_api):
    folder = busybox_context('RUN ["/bin/busybox", "sleep", "30"]\n')
    cancel = threading.Event()
    cancelled_at: List[float] = []

    def on_output(line: str) -> None:
        if line.startswith(" ---> Running in") or ("RUN" in line and step_of(line)):
            def stop() -> None:
                cancelled_at.append(time.monotonic())
                cancel.set()
            threading.Timer(1.0, stop).start()

    started = time.monotonic()
    with pytest.raises(Cancelled) as stopped:
        engine.build(tar_stream(folder), labels={"images.test.final": case.token}, builder=builder,
                     on_output=on_output, cancel=cancel)
    returned = time.monotonic()

    assert stopped.value.exit_code == 130
    assert cancelled_at, "the RUN step never started"
    assert returned - cancelled_at[0] < 5
    assert returned - started < 15
    # The engine killed and removed the step's container (it carries the case label).
    deadline = time.monotonic() + 5
    while docker_api.containers(all=True, filters={"label": case.label}):
        assert time.monotonic() < deadline, "the build container outlived the cancel"
        time.sleep(0.2)
    # No finished image, and no tag on anything.
    assert engine.list_images(label=f"images.test.final={case.token}", all=True) == []
    assert all(not image.get("RepoTags") or image["RepoTags"] == ["<none>:<none>"]
               for image in engine.list_images(label=case.label, all=True))


def test_cancel_during_the_context_upload_stops_sending(builder, engine, case, busybox_context,
                                                        tar_stream):
    cancel = threading.Event()
    sent: List[int] = []

    def slow_chunks() -> Iterator[bytes]:
        for index, chunk in enumerate(tar_stream(busybox_context(), chunk_size=4096)):
            if index == 5:
                cancel.set()
            sent.append(index)
            time.sleep(0.05)
            yield chunk

    started = time.monotonic()
    with pytest.raises(Cancelled):
        engine.build(slow_chunks(), cancel=cancel, builder=builder)
    time.sleep(0.3)  # let the reader thread see the cancel

    assert time.monotonic() - started < 3
    assert len(sent) < 20  # the context holds about 500 chunks of 4 KiB
    assert engine.list_images(label=case.label, all=True) == []


def test_cancel_before_the_start_contacts_nothing(builder, engine, case, busybox_context, tar_stream):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        engine.build(tar_stream(busybox_context()), cancel=cancel, builder=builder)


def test_the_context_is_streamed_not_buffered(builder, engine, case, busybox_context):
    folder = busybox_context()
    big = 64 << 20
    block = bytes(1 << 20)

    def chunks() -> Iterator[bytes]:
        for path in (folder / "Dockerfile", folder / "busybox"):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            info.mode = 0o755
            yield info.tobuf(format=tarfile.PAX_FORMAT) + data + bytes(-len(data) % 512)
        info = tarfile.TarInfo("big.bin")
        info.size = big
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        for _ in range(big // len(block)):
            yield block
        yield bytes(1024)

    already_tracing = tracemalloc.is_tracing()  # PYTHONTRACEMALLOC may have started it
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        image_id = engine.build(chunks(), builder=builder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already_tracing:
            tracemalloc.stop()

    assert engine.inspect_image(image_id)
    growth = peak - baseline
    assert growth < 16 << 20, f"memory grew by {growth >> 20} MiB for a 64 MiB context"


def test_a_failing_context_stream_raises_its_own_error(builder, engine, case, busybox_context,
                                                       tar_stream):
    def chunks() -> Iterator[bytes]:
        first = next(iter(tar_stream(busybox_context())))
        yield first
        raise FileNotFoundError(2, "No such file or directory", "context/vanished.txt")

    with pytest.raises(FileNotFoundError, match="vanished"):
        engine.build(chunks(), builder=builder)


# -- tags, lookups, removal -----------------------------------------------------------------


def test_tag_inspect_history_and_list_by_label(engine, case, busybox_context, tar_stream):
    first, _ = build(engine, tar_stream(busybox_context()), labels={"org.example.kind": "one"})
    second, _ = build(engine, tar_stream(busybox_context('RUN ["/bin/busybox", "true"]\n')),
                      labels={"org.example.kind": "two"})
    ref = case.ref("app", "1.0")

    engine.tag(first, ref)
    assert engine.inspect_image(ref)["Id"] == first
    assert ref in engine.inspect_image(first)["RepoTags"]
    engine.tag(second, ref)  # a tag moves
    assert engine.inspect_image(ref)["Id"] == second
    engine.tag(second, case.ref("app").rsplit(":", 1)[0])  # a bare repository means :latest
    assert case.ref("app") in engine.inspect_image(second)["RepoTags"]

    assert any("COPY" in layer.get("CreatedBy", "") for layer in engine.history(ref))

    by_key = {image["Id"] for image in engine.list_images(label=case.label)}
    assert by_key == {first, second}
    by_value = {image["Id"] for image in engine.list_images(label="org.example.kind=two")}
    assert second in by_value and first not in by_value
    assert engine.list_images(label=f"images.test.case={case.token}-other") == []


def test_missing_images_are_reported_clearly(engine, case):
    missing = case.ref("missing")
    assert engine.inspect_image(missing) is None
    with pytest.raises(EngineError, match=f"cannot tag 0123456789ab as {missing}: no such image"):
        engine.tag("sha256:" + "0123456789ab" * 5 + "0123", missing)
    with pytest.raises(EngineError, match=f"cannot remove image {missing}: no such image"):
        engine.remove_image(missing)
    with pytest.raises(EngineError, match="no such image"):
        engine.history(missing)


def test_remove_refuses_while_a_container_uses_the_image(engine, case, busybox_context,
                                                         tar_stream, docker_api):
    image_id, _ = build(engine, tar_stream(busybox_context()))
    ref = case.ref("used")
    engine.tag(image_id, ref)
    name = f"{case.prefix}-user"
    docker_api.create_container(image_id, command=["/bin/busybox", "true"], name=name)

    assert engine.containers_using(image_id) == [name]
    with pytest.raises(EngineError) as refused:
        engine.remove_image(image_id)
    assert f"it is used by container {name} (created)" in str(refused.value)
    assert "remove the container first" in str(refused.value)
    with pytest.raises(EngineError, match=f"cannot remove tag {ref}: it is used by container {name}"):
        engine.untag(ref)
    assert engine.inspect_image(ref)["Id"] == image_id

    docker_api.remove_container(name)
    assert engine.containers_using(image_id) == []
    record = engine.remove_image(image_id, force=True)
    assert {"Untagged": ref} in record
    assert {"Deleted": image_id} in record
    assert engine.inspect_image(image_id) is None


def test_untag_keeps_an_image_that_has_other_tags(engine, case, busybox_context, tar_stream):
    image_id, _ = build(engine, tar_stream(busybox_context()))
    engine.tag(image_id, case.ref("keep", "a"))
    engine.tag(image_id, case.ref("keep", "b"))

    assert engine.untag(case.ref("keep", "a")) == [{"Untagged": case.ref("keep", "a")}]
    assert engine.inspect_image(image_id)["RepoTags"] == [case.ref("keep", "b")]


# -- registries ------------------------------------------------------------------------------


def test_push_then_pull_back_gives_the_same_image(engine, case, registry, busybox_context,
                                                  tar_stream):
    image_id, _ = build(engine, tar_stream(busybox_context()))
    ref = case.ref("shipped", "1", registry=registry)
    engine.tag(image_id, ref)
    progress: List[dict] = []

    digest = engine.push(ref, on_progress=progress.append)

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    # The layer is sent, or mounted from another repository of the registry that has it already.
    assert any(message.get("status") == "Pushed" or str(message.get("status")).startswith("Mounted from")
               for message in progress)
    assert engine.inspect_distribution(ref)["Descriptor"]["digest"] == digest

    engine.remove_image(image_id, force=True)
    assert engine.inspect_image(image_id) is None
    pulled = engine.pull(ref, on_progress=progress.append)
    assert pulled == image_id
    assert engine.inspect_image(ref)["Id"] == image_id


def test_push_to_a_registry_that_is_down_fails_fast_and_keeps_the_image(
        engine, case, busybox_context, tar_stream):
    image_id, _ = build(engine, tar_stream(busybox_context()))
    ref = case.ref("nowhere", "1", registry="127.0.0.1:5999")
    engine.tag(image_id, ref)

    started = time.monotonic()
    with pytest.raises(EngineError) as failure:
        engine.push(ref)

    assert time.monotonic() - started < 5
    message = str(failure.value)
    assert message.startswith(f"cannot push {ref}: ")
    assert "connection refused" in message
    assert "is the registry at 127.0.0.1:5999 running" in message
    assert "\n" not in message and "Traceback" not in message
    assert not isinstance(failure.value, EngineUnavailable)
    assert engine.inspect_image(ref)["Id"] == image_id


def test_pull_of_a_missing_tag_says_so(engine, case, registry):
    ref = case.ref("never-pushed", "1", registry=registry)
    with pytest.raises(EngineError, match=f"cannot pull {re.escape(ref)}: .*(not found|unknown)"):
        engine.pull(ref)


def test_pull_from_a_registry_that_is_down_does_not_retry(engine, case):
    ref = case.ref("down", "1", registry="127.0.0.1:5999")
    with connect() as patient:
        patient.retry_delays = (30.0,)
        started = time.monotonic()
        with pytest.raises(EngineError, match="connection refused"):
            patient.pull(ref)
    assert time.monotonic() - started < 5  # a refused connection is not worth a retry


class _FlakyRegistry(http.server.ThreadingHTTPServer):
    """A registry front that answers 503 to the first ``failures`` manifest requests, then
    forwards everything to the real registry (or keeps failing when ``failures`` is None)."""

    daemon_threads = True

    def __init__(self, upstream: str, failures: Optional[int]):
        super().__init__(("127.0.0.1", 0), _FlakyHandler)
        self.upstream = upstream
        self.failures = failures
        self.manifest_requests = 0
        self.pings = 0  # one per pull attempt: the engine starts each by asking for /v2/
        self.lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    server: _FlakyRegistry

    def do_GET(self) -> None:
        with self.server.lock:
            if "/manifests/" in self.path:
                self.server.manifest_requests += 1
            if self.path == "/v2/":
                self.server.pings += 1
            failing = (self.server.failures is None
                       or ("/manifests/" in self.path
                           and self.server.manifest_requests <= self.server.failures))
        if failing:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = urllib.request.Request(f"http://{self.server.upstream}{self.path}",
                                         method=self.command,
                                         # The engine sends one Accept header per manifest type,
                                         # in no fixed order: all of them, or the registry may
                                         # answer with the old schema 1 and another image ID.
                                         headers={"Accept": ", ".join(self.headers.get_all("Accept") or ["*/*"])})
        try:
            answer = urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as refused:
            answer = refused
        with answer:
            body = answer.read()
            self.send_response(answer.status)
            for name in ("Content-Type", "Docker-Content-Digest", "Docker-Distribution-Api-Version"):
                if answer.headers.get(name):
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_registry(registry):
    servers: List[_FlakyRegistry] = []

    def start(failures: Optional[int]) -> _FlakyRegistry:
        server = _FlakyRegistry(registry, failures)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_pull_retries_a_registry_answering_5xx_and_then_succeeds(
        engine, case, registry, busybox_context, tar_stream, flaky_registry, caplog):
    image_id, _ = build(engine, tar_stream(busybox_context()))
    pushed = case.ref("flaky", "1", registry=registry)
    engine.tag(image_id, pushed)
    engine.push(pushed)
    engine.remove_image(image_id, force=True)
    front = flaky_registry(failures=2)
    through_front = case.ref("flaky", "1", registry=front.address)

    with connect() as patient:
        patient.retry_delays = (0.1, 0.1, 0.1)
        with caplog.at_level(logging.WARNING, logger="builder.engine"):
            assert patient.pull(through_front) == image_id

    assert front.pings >= 2
    assert "503 Service Unavailable; retrying in 0.1 s" in caplog.text


def test_pull_gives_up_on_a_registry_that_keeps_answering_5xx(engine, case, flaky_registry):
    front = flaky_registry(failures=None)
    ref = case.ref("broken", "1", registry=front.address)

    with connect() as patient:
        patient.retry_delays = (0.1, 0.1)
        with pytest.raises(EngineError) as failure:
            patient.pull(ref)

    assert str(failure.value) == (f"cannot pull {ref}: received unexpected HTTP status: "
                                  "503 Service Unavailable (gave up after 3 attempts)")
    assert front.pings == 3


# -- archives --------------------------------------------------------------------------------


def test_save_then_load_restores_the_image_and_its_tags(engine, case, busybox_context,
                                                        tar_stream, tmp_path):
    image_id, _ = build(engine, tar_stream(busybox_context()))
    refs = [case.ref("archived", "1"), case.ref("archived", "latest")]
    for ref in refs:
        engine.tag(image_id, ref)
    archive = tmp_path / "images.tar"

    with open(archive, "wb") as handle:
        engine.save(refs, handle)
    with tarfile.open(archive) as saved:
        assert "manifest.json" in saved.getnames()

    engine.remove_image(image_id, force=True)
    assert engine.inspect_image(image_id) is None
    with open(archive, "rb") as handle:
        loaded = engine.load(handle)

    assert sorted(loaded) == sorted(refs)
    assert all(engine.inspect_image(ref)["Id"] == image_id for ref in refs)


def test_save_of_a_missing_image_and_load_of_garbage_fail_clearly(engine, case, tmp_path):
    with pytest.raises(EngineError, match=f"cannot save {case.ref('ghost')}: "):
        with open(tmp_path / "out.tar", "wb") as handle:
            engine.save([case.ref("ghost")], handle)
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tarball" * 100)
    with pytest.raises(EngineError, match="cannot load images: "):
        with open(garbage, "rb") as handle:
            engine.load(handle)


def test_import_of_a_rootfs_tarball_gives_a_base_that_children_build_on(
        engine, case, rootfs_tarball, tar_stream, tmp_path):
    repository = case.ref("rootfs").rsplit(":", 1)[0]
    odd_value = r'key "quoted" with spaces, \\ and $dollar'
    image_id = engine.import_image(str(rootfs_tarball), repository, "1",
                                   labels={"images.test.case": case.token, "org.example.odd": odd_value},
                                   changes=['CMD ["/bin/sh"]'])

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    info = engine.inspect_image(f"{repository}:1")
    assert info["Id"] == image_id
    assert info["Config"]["Labels"] == {"images.test.case": case.token, "org.example.odd": odd_value}
    assert info["Config"]["Cmd"] == ["/bin/sh"]

    child = tmp_path / "child"
    child.mkdir()
    (child / "Dockerfile").write_text(
        f"FROM {repository}:1\nRUN echo child-ran-on-imported-base {case.token}\n")
    child_id, lines = build(engine, tar_stream(child))
    assert f"child-ran-on-imported-base {case.token}" in output(lines)
    assert engine.inspect_image(child_id)["Config"]["Labels"]["images.test.case"] == case.token


def test_import_of_a_missing_file_is_an_engine_error(engine, tmp_path):
    with pytest.raises(EngineError, match="no such file"):
        engine.import_image(str(tmp_path / "absent.tar"), "images-test-absent/rootfs", "1")


# -- finding the engine ----------------------------------------------------------------------


@pytest.mark.parametrize("host, reason", [
    ("tcp://127.0.0.1:5999", "connection refused"),
    ("unix:///nonexistent/docker.sock", "the socket does not exist"),
])
def test_a_wrong_docker_host_is_engine_unavailable_naming_the_endpoint(monkeypatch, host, reason):
    monkeypatch.setenv("DOCKER_HOST", host)
    with pytest.raises(EngineUnavailable) as failure:
        connect()

    assert str(failure.value) == (f"cannot reach the Docker engine at {host}: {reason}; "
                                  "start dockerd or set DOCKER_HOST")
    assert failure.value.exit_code == 3


def test_an_explicit_host_wins_and_a_malformed_one_is_reported(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.raises(EngineUnavailable, match="at tcp://127.0.0.1:5999: connection refused"):
        connect("tcp://127.0.0.1:5999")
    with pytest.raises(EngineUnavailable, match="'foo://bar'.*Invalid bind address protocol"):
        connect("foo://bar")


def test_tls_settings_without_certificates_are_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:5999")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    with pytest.raises(EngineUnavailable) as failure:
        connect()
    assert str(failure.value) == (
        f"cannot use TLS for the Docker engine at tcp://127.0.0.1:5999: ca.pem, cert.pem, "
        f"key.pem not found in {tmp_path}; check DOCKER_CERT_PATH and DOCKER_TLS_VERIFY")


def test_the_docker_context_is_followed_like_the_cli_does(monkeypatch, tmp_path):
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    (meta / "meta.json").write_text(json.dumps({
        "Name": "remote", "Metadata": {},
        "Endpoints": {"docker": {"Host": "tcp://127.0.0.1:5999", "SkipTLSVerify": False}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)

    with pytest.raises(EngineUnavailable, match="at tcp://127.0.0.1:5999: connection refused"):
        connect()  # the config file's current context
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    with pytest.raises(EngineUnavailable,
                       match="docker context 'elsewhere' \\(from DOCKER_CONTEXT\\) does not exist"):
        connect()
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:5998")
    with pytest.raises(EngineUnavailable, match="at tcp://127.0.0.1:5998"):
        connect()  # DOCKER_HOST wins over any context


def test_the_default_engine_answers(engine):
    engine.ping()
    assert engine.endpoint
    assert engine.version()["ApiVersion"] == engine.api_version
