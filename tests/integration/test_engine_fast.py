"""The short calls (list, inspect, tag, ...) go through the standard-library client: a run that
changes nothing never loads docker-py, kept-alive connections are reused and replaced when the
engine drops them, and a tcp:// endpoint (here a relay in front of the engine's socket) works."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List

import pytest

from builder.engine import connect

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY", "no_proxy", "NO_PROXY")

# Runs the command line in a fresh interpreter, then names the docker-py modules it loaded.
PROBE = """
import sys
from builder.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("docker", "requests", "urllib3"))
print("docker-py modules:", loaded)
sys.exit(code)
"""


def _clean_env(**extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES}
    env.update(extra)
    return env


def _probe(args: List[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_run_that_changes_nothing_loads_no_docker_py(tmp_path, case, busybox_context, engine):
    busybox_context().rename(tmp_path / "app")
    (tmp_path / "images.yaml").write_text(
        f"version: 1\nimages:\n  app: {{context: app, repository: {case.prefix}/app, "
        f"tags: [one, two]}}\n")
    env = _clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    first = _probe(["build", "--progress", "plain"], tmp_path, env)
    assert first.returncode == 0, first.stderr
    # A cached image whose tag went away: the next build only re-tags it.
    engine.untag(case.ref("app", "two"))

    for args in (["plan"], ["build", "--progress", "plain"], ["plan", "--json"]):
        result = _probe(args, tmp_path, env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "docker-py modules: []", result.stdout

    assert (engine.inspect_image(case.ref("app", "two"))["Id"]
            == engine.inspect_image(case.ref("app", "one"))["Id"])


class _Relay:
    """A TCP address in front of the engine's unix socket, that counts the connections it
    accepts and can cut them, as an engine closing its idle connections would."""

    def __init__(self, socket_path: str):
        self.socket_path = socket_path
        self.accepted = 0
        self.cut_next_request = False
        self._pairs: List[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.socket_path)
            with self._lock:
                self.accepted += 1
                self._pairs += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, to_engine: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    cut, self.cut_next_request = (self.cut_next_request and to_engine,
                                                  self.cut_next_request and not to_engine)
                if cut:  # the request is dropped unseen, as by an engine closing the connection
                    break
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        source.close()  # the other pump sees the shutdown and closes ``target``

    def cut_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for sock in pairs:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._server.close()
        self.cut_all()


@pytest.fixture
def relay(engine, monkeypatch) -> Iterator[_Relay]:
    if not engine.endpoint.startswith("unix://"):
        pytest.skip(f"the relay needs an engine on a unix socket, not {engine.endpoint}")
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    front = _Relay("/" + engine.endpoint[len("unix://"):].lstrip("/"))
    yield front
    front.close()


def test_connections_are_kept_alive_and_replaced_when_the_engine_drops_them(relay):
    with connect(f"tcp://127.0.0.1:{relay.port}") as engine:
        engine.ping()
        engine.list_images(label="images.test.none")
        assert relay.accepted == 1  # the version check, ping and list share one connection

        relay.cut_all()  # closed while idle: noticed before the next request is sent
        engine.ping()
        assert relay.accepted == 2

        relay.cut_next_request = True  # closed just as it is reused: the request is sent again
        assert engine.version()["ApiVersion"] == engine.api_version
        assert relay.accepted == 3


def test_a_docker_context_on_tcp_is_followed_without_docker_py(
        tmp_path, case, busybox_context, tar_stream, engine, relay):
    image_id = engine.build(tar_stream(busybox_context()))
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"relayed").hexdigest()
    meta.mkdir(parents=True)
    (config / "config.json").write_text(json.dumps({"currentContext": "relayed"}))
    (meta / "meta.json").write_text(json.dumps({
        "Name": "relayed", "Metadata": {},
        "Endpoints": {"docker": {"Host": f"tcp://127.0.0.1:{relay.port}",
                                 "SkipTLSVerify": False}}}))
    env = _clean_env(DOCKER_CONFIG=str(config))
    env.pop("DOCKER_HOST", None)
    env.pop("DOCKER_CONTEXT", None)
    script = (
        "import json, sys\n"
        "from builder.engine import connect\n"
        "engine = connect()\n"
        f"found = [image['Id'] for image in engine.list_images(label={case.label!r})]\n"
        f"missing = engine.inspect_image({case.ref('absent')!r})\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('docker', 'requests', 'urllib3')]\n"
        "print(json.dumps([engine.endpoint, found, missing, loaded]))\n")

    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [f"tcp://127.0.0.1:{relay.port}", [image_id], None, []]
    assert relay.accepted >= 1
