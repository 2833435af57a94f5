"""The registry side of the cache and `build --push`, without an engine: the planner's use of a
RegistryState, which references are asked about and which images are pulled, how publishing
decides between present / tagged / pushed, the argument parsing, and the registry client
against a small registry served here (token auth, redirects, a registry that never answers)."""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional

import pytest

from builder.cli import build_parser, main
from builder.engine.registry import (DOCKER_MANIFEST, CredentialStore, Credentials,
                                     RegistryClient, RegistryError, is_loopback, locate,
                                     parse_challenge, pick_platform)
from builder.errors import EngineError
from builder.manifest import load_manifest
from builder.plan.graph import build_graph
from builder.plan.plan import make_plan
from builder.plan.state import KEY_LABEL, EngineState, RegistryImage, RegistryState
from builder.run.publish import Publisher, publish_all
from builder.run.remote import (found_elsewhere, has_registry, must_pull, references_to_ask,
                                registry_only, registry_state)


# -- argument parsing -------------------------------------------------------------------------

@pytest.mark.parametrize("argv, push, selectors", [
    (["build"], None, []),
    (["build", "--push"], "all", []),
    (["build", "--push=all"], "all", []),
    (["build", "--push=eager"], "eager", []),
    (["build", "--push", "eager", "app"], "eager", ["app"]),
    (["build", "app", "--push"], "all", ["app"]),
    (["build", "--push", "app", "lib"], "all", ["app", "lib"]),   # a selector, not a bad value
])
def test_push_takes_an_optional_mode(argv, push, selectors, monkeypatch):
    parsed = {}
    monkeypatch.setattr("builder.cli.commands.cmd_build", lambda args: parsed.update(vars(args)) or 0)
    assert main(argv) == 0
    assert parsed["push"] == push and parsed["selectors"] == selectors
    assert parsed["no_registry_cache"] is False


def test_an_unknown_push_mode_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--push=eagre"])
    assert exit_info.value.code == 2
    assert "argument --push: invalid choice: 'eagre' (choose from 'all', 'eager')" in capsys.readouterr().err


def test_no_registry_cache_on_plan_and_build():
    parser = build_parser()
    assert parser.parse_args(["plan", "--no-registry-cache"]).no_registry_cache is True
    assert parser.parse_args(["build", "--no-registry-cache", "--push"]).no_registry_cache is True
    assert parser.parse_args(["plan"]).no_registry_cache is False


# -- the planner and a RegistryState ------------------------------------------------------------

REGISTRY = "reg.example:5000/acme"


@pytest.fixture
def graph(tmp_path):
    (tmp_path / "images.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        registry: {REGISTRY}
        images:
          base: {{context: base, tags: [latest, "1.0"]}}
          app: {{context: app, tags: [v1]}}
          hub: {{context: hub}}
        """))
    for name, text in (("base", "FROM scratch\n"), ("app", "FROM base:1.0\nCOPY . /\n"), ("hub", "FROM scratch\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(text)
    return build_graph(load_manifest(tmp_path / "images.yaml"))


NAMES = ["base", "app"]


def keys_of(graph) -> Dict[str, str]:
    return {s.name: s.cache_key for s in make_plan(graph, NAMES, state=EngineState()).steps}


def found(reference: str, key: Optional[str], digest: str = "sha256:" + "a" * 64) -> RegistryImage:
    return RegistryImage(reference, digest, key)


def test_a_key_found_in_the_registry_is_cached_there(graph):
    keys = keys_of(graph)
    registry = RegistryState((found(f"{REGISTRY}/base:1.0", keys["base"]),))
    plan = make_plan(graph, NAMES, state=EngineState(), registry=registry)
    base, app = plan.step("base"), plan.step("app")
    assert base.action == "cached" and base.image_id is None
    assert base.reason == f"cached (registry): key {keys['base'][:12]}\u2026 at {REGISTRY}/base:1.0"
    assert (base.remote, base.remote_digest) == (f"{REGISTRY}/base:1.0", "sha256:" + "a" * 64)
    assert plan.to_json()["steps"][0]["registry"] == {"reference": f"{REGISTRY}/base:1.0",
                                                      "digest": "sha256:" + "a" * 64}
    assert (app.action, app.reason) == ("build", "no earlier build")
    assert app.cache_key == keys["app"]                  # the registry never changes a key
    assert "registry" not in plan.to_json()["steps"][1]


def test_another_key_at_the_reference_is_not_a_hit(graph):
    registry = RegistryState((found(f"{REGISTRY}/base:latest", "an-older-key"), found(f"{REGISTRY}/base:1.0", None)))
    assert make_plan(graph, NAMES, state=EngineState(), registry=registry).step("base").action == "build"


def test_the_engine_wins_over_the_registry_and_no_cache_ignores_both(graph):
    keys = keys_of(graph)
    registry = RegistryState((found(f"{REGISTRY}/base:latest", keys["base"]),))
    state = EngineState.from_engine_list([{"Id": "sha256:local", "RepoTags": ["base:latest", "base:1.0"],
                                           "Labels": {KEY_LABEL: keys["base"]}, "Created": 1}])
    step = make_plan(graph, NAMES, state=state, registry=registry).step("base")
    assert (step.action, step.image_id, step.remote) == ("cached", "sha256:local", None)
    step = make_plan(graph, NAMES, state=state, registry=registry, no_cache=True).step("base")
    assert (step.action, step.reason) == ("build", "--no-cache")


def test_without_an_engine_a_registry_hit_is_still_known(graph):
    keys = keys_of(graph)
    registry = RegistryState((found(f"{REGISTRY}/app:v1", keys["app"]),), notes=("could not ask x",))
    plan = make_plan(graph, NAMES, state=None, registry=registry)
    assert plan.step("app").action == "cached" and plan.step("app").reason.startswith("cached (registry)")
    assert plan.step("base").reason == "no engine reachable: cannot tell whether an earlier build exists"
    assert plan.to_json()["registry_notes"] == ["could not ask x"]


def test_references_are_matched_in_their_normal_form():
    registry = RegistryState((found("localhost:5000/acme/base", "k"),))
    assert registry.image_for("localhost:5000/acme/base:latest").cache_key == "k"
    assert registry.image_for("localhost:5000/acme/base:1.0") is None


# -- what is asked and what is pulled -----------------------------------------------------------

def test_only_images_with_a_registry_are_looked_up(graph, tmp_path):
    manifest = graph.manifest
    assert has_registry(manifest, manifest.images["hub"])            # registry: set applies to all
    bare = load_manifest_text(tmp_path, "images: {a: {context: base}, b: {context: base, repository: "
                                        "localhost:5000/b}, c: {context: base, repository: acme/c}}")
    assert [has_registry(bare, bare.images[n]) for n in "abc"] == [False, True, False]


def load_manifest_text(tmp_path: Path, body: str):
    (tmp_path / "other.yaml").write_text("version: 1\n" + body + "\n")
    return load_manifest(tmp_path / "other.yaml")


def test_references_to_ask_are_the_images_not_on_the_engine_or_all_for_a_push(graph):
    keys = keys_of(graph)
    state = EngineState.from_engine_list([{"Id": "sha256:local", "RepoTags": ["base:latest", "base:1.0"],
                                           "Labels": {KEY_LABEL: keys["base"]}, "Created": 1}])
    plan = make_plan(graph, NAMES, state=state)
    assert references_to_ask(graph.manifest, plan, everything=False) == [f"{REGISTRY}/app:v1"]
    assert references_to_ask(graph.manifest, plan, everything=True) == [
        f"{REGISTRY}/base:latest", f"{REGISTRY}/base:1.0", f"{REGISTRY}/app:v1"]
    assert not found_elsewhere(graph.manifest, plan, RegistryState((found(f"{REGISTRY}/base:1.0", keys["base"]),)))
    assert found_elsewhere(graph.manifest, plan, RegistryState((found(f"{REGISTRY}/app:v1", keys["app"]),)))


def test_a_pushed_build_pulls_only_what_a_child_built_here_sits_on(graph):
    keys = keys_of(graph)
    base_only = RegistryState((found(f"{REGISTRY}/base:latest", keys["base"]),))
    plan = make_plan(graph, NAMES, state=EngineState(), registry=base_only)
    assert registry_only(plan) == {"base"}
    assert must_pull(plan, push=True) == {"base"}          # app is built on it
    assert must_pull(plan, push=False) == {"base"}
    both = RegistryState(base_only.images + (found(f"{REGISTRY}/app:v1", keys["app"]),))
    plan = make_plan(graph, NAMES, state=EngineState(), registry=both)
    assert must_pull(plan, push=True) == set()              # published already: nothing to pull
    assert must_pull(plan, push=False) == {"base", "app"}   # the user asked for the images


def test_registry_state_reads_the_key_label_from_the_lookups():
    from builder.engine.registry import Lookups, RemoteImage

    client = SimpleNamespace(look_up=lambda refs: Lookups(
        found={"r/a:1": RemoteImage("r/a:1", "sha256:1", DOCKER_MANIFEST, {KEY_LABEL: "k", "other": "x"}),
               "r/b:1": RemoteImage("r/b:1", "sha256:2", DOCKER_MANIFEST, {})},
        missing={"r/c:1"}, notes=["could not ask r"]))
    state = registry_state(client, ["r/a:1", "r/b:1", "r/c:1"])
    assert state.image_for("r/a:1") == RegistryImage("r/a:1", "sha256:1", "k")
    assert state.image_for("r/b:1").cache_key is None and state.image_for("r/c:1") is None
    assert state.notes == ("could not ask r",)


# -- publishing -----------------------------------------------------------------------------------

class PushEngine:
    """Enough of an engine for push_image: local tags, and pushes that record what was sent."""

    def __init__(self, tags: Dict[str, str], fail: Optional[str] = None):
        self.tags = dict(tags)
        self.pushed: List[str] = []
        self.fail = fail

    def inspect_image(self, ref):
        return {"Id": self.tags[ref]} if ref in self.tags else None

    def tag(self, image_id, ref):
        self.tags[ref] = image_id

    def untag(self, ref):
        self.tags.pop(ref, None)
        return []

    def push(self, ref, on_progress=None):
        if self.fail and self.fail in ref:
            raise EngineError(f"cannot push {ref}: connection refused")
        self.pushed.append(ref)
        return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def test_publish_sends_only_what_the_registry_lacks(graph):
    keys = keys_of(graph)
    registry = RegistryState((found(f"{REGISTRY}/base:latest", keys["base"], "sha256:" + "b" * 64),
                              found(f"{REGISTRY}/base:1.0", "stale"),))
    plan = make_plan(graph, NAMES, state=EngineState(), registry=registry)
    copies = []
    client = SimpleNamespace(copy_tag=lambda source, target: copies.append((source, target)) or "sha256:" + "b" * 64)
    engine = PushEngine({"app:v1": "sha256:app"})
    publisher = Publisher(graph.manifest, plan, engine, client=client, registry=registry)

    base = publisher.publish("base")
    assert [(p.reference, p.action) for p in base] == [(f"{REGISTRY}/base:latest", "present"),
                                                       (f"{REGISTRY}/base:1.0", "tagged")]
    assert copies == [(f"{REGISTRY}/base@sha256:" + "b" * 64, f"{REGISTRY}/base:1.0")]   # no pull, no upload
    app = publisher.publish("app")
    assert [(p.reference, p.action) for p in app] == [(f"{REGISTRY}/app:v1", "pushed")]
    assert engine.pushed == [f"{REGISTRY}/app:v1"] and f"{REGISTRY}/app:v1" not in engine.tags


def test_publish_all_goes_parents_first_and_stops_at_the_first_failure(graph):
    plan = make_plan(graph, NAMES, state=EngineState())
    engine = PushEngine({"base:latest": "sha256:b", "base:1.0": "sha256:b", "app:v1": "sha256:a"}, fail="base")
    outcomes = publish_all(Publisher(graph.manifest, plan, engine), NAMES, jobs=4)
    assert outcomes["base"].error == f"cannot push {REGISTRY}/base:latest: connection refused"
    assert outcomes["app"].error == "not pushed: the push of 'base' failed"
    assert engine.pushed == []

    engine = PushEngine({"base:latest": "sha256:b", "base:1.0": "sha256:b", "app:v1": "sha256:a"})
    outcomes = publish_all(Publisher(graph.manifest, plan, engine), NAMES, jobs=4)
    assert all(o.ok for o in outcomes.values())
    assert engine.pushed == [f"{REGISTRY}/base:latest", f"{REGISTRY}/base:1.0", f"{REGISTRY}/app:v1"]


# -- the registry client: pure parts --------------------------------------------------------------

def test_challenges_platforms_and_hosts():
    assert parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"') \
        == ("bearer", {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"})
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
    entries = [{"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
               {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
               {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}]
    assert pick_platform(entries, "linux/amd64")["digest"] == "sha256:amd"
    assert pick_platform(entries, "linux/arm64/v8")["digest"] == "sha256:arm"
    assert pick_platform(entries, None)["digest"] == "sha256:arm"
    assert pick_platform(entries, "windows/amd64") is None
    assert [is_loopback(h) for h in ("127.0.0.1:5000", "localhost", "[::1]:5000", "reg.example:5000")] == [
        True, True, True, False]
    assert locate("acme/base:1") == ("docker.io", "acme/base", "1", None)
    assert locate("localhost:5000/a/b@sha256:" + "0" * 64)[:2] == ("localhost:5000", "a/b")


def test_insecure_registries_are_tried_as_the_engine_does():
    client = RegistryClient.for_engine({"RegistryConfig": {
        "IndexConfigs": {"reg.internal:5000": {"Secure": False}, "docker.io": {"Secure": True}},
        "InsecureRegistryCIDRs": ["10.0.0.0/8"]}}, {"Os": "linux", "Arch": "amd64"})
    assert client.platform == "linux/amd64"
    assert client._schemes("reg.internal:5000") == [("https", False), ("http", True)]
    assert client._schemes("10.1.2.3:5000") == [("https", False), ("http", True)]
    assert client._schemes("127.0.0.1:5000") == [("http", True)]
    assert client._schemes("reg.example") == [("https", True)]


def run_helper(answers: Dict[str, dict], calls: List[tuple]):
    def run(argv, input, **kwargs):
        calls.append((argv, input))
        if argv[0] == "docker-credential-missing":
            raise FileNotFoundError(argv[0])
        if input not in answers:
            return subprocess.CompletedProcess(argv, 1, "credentials not found in native keychain\n", "")
        return subprocess.CompletedProcess(argv, 0, json.dumps(answers[input]), "")
    return run


def test_credentials_come_from_helpers_then_the_config_file():
    calls: List[tuple] = []
    encoded = base64.b64encode(b"filer:file-secret").decode()
    store = CredentialStore({
        "auths": {"https://file.example/v1/": {"auth": encoded}, "https://index.docker.io/v1/": {"auth": encoded},
                  "tok.example": {"identitytoken": "refresh-me"}},
        "credHelpers": {"helped.example": "pass", "gone.example": "missing"},
        "credsStore": "desktop",
    }, run=run_helper({"helped.example": {"Username": "helper-user", "Secret": "helper-secret"},
                       "store.example": {"Username": "<token>", "Secret": "identity"}}, calls))
    assert store.get("helped.example") == Credentials("helper-user", "helper-secret")
    assert store.get("store.example") == Credentials("", "identity", True)
    assert store.get("file.example") == Credentials("filer", "file-secret")       # store had none: the file
    assert store.get("docker.io") == Credentials("filer", "file-secret")
    assert store.get("tok.example") == Credentials("", "refresh-me", True)
    assert store.get("gone.example") is None                                        # helper not installed
    assert store.get("nobody.example") is None
    assert ["docker-credential-pass", "get"] in [c[0] for c in calls]
    assert ("https://index.docker.io/v1/" in [c[1] for c in calls])                  # Docker Hub's key
    assert "helper-secret" not in repr(store.get("helped.example"))


# -- the registry client against a small registry served here -------------------------------------

class FakeRegistry(http.server.ThreadingHTTPServer):
    """Registry API v2 with token auth: a token from /token for Basic user:pw, blobs redirected to
    the same server under another host name (so credentials must not follow)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.manifests: Dict[str, tuple] = {}       # "name:tag" or "name@digest" -> (media type, bytes)
        self.blobs: Dict[str, bytes] = {}
        self.seen: List[tuple] = []                 # (method, path, Authorization header)
        self.token_requests: List[str] = []

    def add_image(self, name: str, tag: str, labels: Dict[str, str]) -> str:
        config = json.dumps({"config": {"Labels": labels}}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self.blobs[config_digest] = config
        body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                           "config": {"digest": config_digest, "size": len(config)}, "layers": []}).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[f"{name}:{tag}"] = self.manifests[f"{name}@{digest}"] = (DOCKER_MANIFEST, body)
        return digest


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeRegistry

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == "Bearer good-token":
            return True
        realm = f"http://127.0.0.1:{self.server.port}/token"
        self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                   {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake",scope="repository:x:pull"'})
        return False

    def do_GET(self):
        self.server.seen.append(("GET", self.path, self.headers.get("Authorization")))
        if self.path.startswith("/token"):
            self.server.token_requests.append(self.path)
            if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"user:pw").decode():
                return self._send(401)
            return self._send(200, b'{"token": "good-token", "expires_in": 300}')
        if self.path.startswith("/storage/"):
            if self.headers.get("Authorization"):
                return self._send(400, b"credentials sent to storage")
            return self._send(200, self.server.blobs[self.path[len("/storage/"):]])
        if not self._authorised():
            return
        if self.path == "/v2/":
            return self._send(200, b"{}")
        name, kind, ref = self._split()
        if kind == "manifests":
            key = f"{name}@{ref}" if ref.startswith("sha256:") else f"{name}:{ref}"
            if key not in self.server.manifests:
                return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            media_type, body = self.server.manifests[key]
            return self._send(200, body, {"Content-Type": media_type,
                                          "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest()})
        if kind == "blobs":
            return self._send(307, b"", {"Location": f"http://localhost:{self.server.port}/storage/{ref}"})
        self._send(404)

    def do_PUT(self):
        self.server.seen.append(("PUT", self.path, self.headers.get("Authorization")))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._authorised():
            return
        name, _kind, tag = self._split()
        self.server.manifests[f"{name}:{tag}"] = (self.headers.get("Content-Type"), body)
        self._send(201, b"", {"Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest()})

    def _split(self):
        path = self.path[len("/v2/"):]
        for kind in ("manifests", "blobs"):
            marker = f"/{kind}/"
            if marker in path:
                name, ref = path.split(marker, 1)
                return name, kind, ref
        return path, "", ""


@pytest.fixture
def fake_registry():
    server = FakeRegistry()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def client_with(user: str = "user", password: str = "pw") -> RegistryClient:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return RegistryClient(credentials=CredentialStore({"auths": {"127.0.0.1": {"auth": auth}}}))


def test_the_client_reads_labels_and_retags_with_a_token(fake_registry):
    host = f"127.0.0.1:{fake_registry.port}"
    digest = fake_registry.add_image("acme/app", "v1", {KEY_LABEL: "abc"})
    auth = base64.b64encode(b"user:pw").decode()
    client = RegistryClient(credentials=CredentialStore({"auths": {host: {"auth": auth}}}))

    lookups = client.look_up([f"{host}/acme/app:v1", f"{host}/acme/app:v2"])
    assert lookups.found[f"{host}/acme/app:v1"].digest == digest
    assert lookups.found[f"{host}/acme/app:v1"].labels == {KEY_LABEL: "abc"}
    assert lookups.missing == {f"{host}/acme/app:v2"} and lookups.notes == []
    assert fake_registry.token_requests[0].startswith("/token?service=fake&scope=repository%3Ax%3Apull")
    storage = [s for s in fake_registry.seen if s[1].startswith("/storage/")]
    assert storage and all(auth_header is None for _m, _p, auth_header in storage)

    assert client.copy_tag(f"{host}/acme/app@{digest}", f"{host}/acme/app:v2") == digest
    assert fake_registry.manifests["acme/app:v2"] == (DOCKER_MANIFEST, fake_registry.manifests["acme/app:v1"][1])
    with pytest.raises(RegistryError, match="different repositories"):
        client.copy_tag(f"{host}/acme/app@{digest}", f"{host}/acme/other:v2")


def test_wrong_credentials_are_a_note_that_names_no_secret(fake_registry):
    host = f"127.0.0.1:{fake_registry.port}"
    fake_registry.add_image("acme/app", "v1", {KEY_LABEL: "abc"})
    auth = base64.b64encode(b"user:sup3rs3cret").decode()
    client = RegistryClient(credentials=CredentialStore({"auths": {host: {"auth": auth}}}))
    lookups = client.look_up([f"{host}/acme/app:v1", f"{host}/acme/app:v3"])
    assert lookups.found == {} and len(lookups.notes) == 1
    assert "(and 1 more)" in lookups.notes[0] and "refused access" in lookups.notes[0]
    assert "sup3rs3cret" not in lookups.notes[0] and auth not in lookups.notes[0]


def test_a_registry_that_never_answers_is_asked_once_and_quickly():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)        # accepts connections, never answers
    try:
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        client = RegistryClient(ping_timeout=0.3, credentials=CredentialStore({}))
        started = time.monotonic()
        lookups = client.look_up([f"{host}/a:{n}" for n in range(20)])
        assert time.monotonic() - started < 2
        assert lookups.notes == [f"could not ask the registry at {host} (timed out); "
                                 "its images are not looked up in this run"]
        assert lookups.found == {} and lookups.missing == set()
        assert client.down(host) == "timed out"
    finally:
        silent.close()
