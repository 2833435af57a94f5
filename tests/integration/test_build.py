"""`images build` on the real engine: order, parent identity, skipping, failures (issue acceptance)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def run(args, cwd: Path, env=None, check=None):
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


@pytest.fixture(params=["classic", "buildkit"])
def project(request, tmp_path, case, busybox_context):
    """base -> {mid1, mid2} -> leaf (FROM mid1, COPY --from=mid2), solo, broken -> broken-child."""
    root = tmp_path / "project"
    root.mkdir()
    p = case.prefix

    def ctx(name, body, files=None):
        folder = busybox_context(body, files=files)
        folder.rename(root / name)

    install = 'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    ctx("base", install + "RUN echo base > /base.txt\n")
    ctx("mid1", "", {"data.txt": "one\n", ".dockerignore": "*.log\nscratch/\n"})
    (root / "mid1" / "Dockerfile").write_text(
        f"FROM {p}/base\nARG FLAVOR=plain\nCOPY data.txt /mid1.txt\nRUN echo $FLAVOR > /flavor\n")
    ctx("mid2", "")
    (root / "mid2" / "Dockerfile").write_text(f"FROM {p}/base\nRUN echo two > /mid2.txt\n")
    ctx("leaf", "")
    (root / "leaf" / "Dockerfile").write_text(
        f"FROM {p}/mid1\nCOPY --from={p}/mid2 /mid2.txt /leaf-mid2.txt\nRUN cat /mid1.txt /leaf-mid2.txt\n")
    ctx("solo", install + "RUN echo solo > /solo.txt\n")
    ctx("broken", install + "RUN echo about to fail && exit 3\n")
    ctx("broken-child", "")
    (root / "broken-child" / "Dockerfile").write_text(f"FROM {p}/broken\n")
    (root / "images.yaml").write_text(f"""\
version: 1
images:
  base: {{context: base, repository: {p}/base}}
  mid1: {{context: mid1, repository: {p}/mid1, args: {{FLAVOR: "${{FLAVOR:-plain}}"}}}}
  mid2: {{context: mid2, repository: {p}/mid2}}
  leaf: {{context: leaf, repository: {p}/leaf}}
  solo: {{context: solo, repository: {p}/solo}}
  broken: {{context: broken, repository: {p}/broken}}
  broken-child: {{context: broken-child, repository: {p}/broken-child}}
groups:
  default: [leaf, solo]
""")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1",
           "DOCKER_BUILDKIT": "1" if request.param == "buildkit" else "0"}
    return root, env


def report(root: Path, env, *args, code=0):
    path = root / "report.json"
    if path.exists():
        path.unlink()
    proc = run(["build", "--progress", "plain", "--report", str(path), *args], root, env, check=code)
    data = json.loads(path.read_text())
    assert data["version"] == 1
    return {i["name"]: i for i in data["images"]}, proc


def container_creations(docker_api, since: int, case) -> int:
    # Only this test's containers: other tests may share the engine. Build containers carry the
    # labels of the image they run, and every image here starts with the test's label.
    events = docker_api.events(since=since, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "event": "create", "label": case.label})
    return sum(1 for _ in events)


def build_cache_use(docker_api):
    """The engine's BuildKit cache records and how often each was used: BuildKit runs no
    containers the engine reports, but every build it solves uses (or adds) records."""
    records = docker_api.df().get("BuildCache") or []
    return sorted((r["ID"], r.get("UsageCount"), r.get("LastUsedAt")) for r in records)


def engine_work(docker_api, since: int, case, cache_before, env) -> bool:
    """Whether the engine did any build work since then, with the builder ``env`` picks."""
    if env["DOCKER_BUILDKIT"] == "0":
        return container_creations(docker_api, since, case) > 0
    return build_cache_use(docker_api) != cache_before


def test_build_order_skipping_and_failures(project, engine, docker_api, case):
    root, env = project
    first, proc = report(root, env)
    assert {n: i["status"] for n, i in first.items()} == {
        "base": "built", "mid1": "built", "mid2": "built", "leaf": "built", "solo": "built"}
    # each child is built on the parent just built: its layers start with the parent's
    for child, parent in [("mid1", "base"), ("mid2", "base"), ("leaf", "mid1")]:
        parent_layers = engine.inspect_image(first[parent]["image_id"])["RootFS"]["Layers"]
        child_layers = engine.inspect_image(first[child]["image_id"])["RootFS"]["Layers"]
        assert child_layers[:len(parent_layers)] == parent_layers, (child, parent)
        assert len(child_layers) > len(parent_layers)
    for name, item in first.items():
        inspected = engine.inspect_image(item["tags"][0])
        assert inspected["Id"] == item["image_id"]
        assert inspected["Config"]["Labels"]["images.cache-key"] == item["cache_key"]

    # nothing changed: every image cached, and the engine did no build work
    time.sleep(1.05 - time.time() % 1)  # event times are whole seconds: start on a fresh one
    since, cache_before = int(time.time()), build_cache_use(docker_api)
    again, proc = report(root, env)
    assert {i["status"] for i in again.values()} == {"cached"}
    assert {n: i["image_id"] for n, i in again.items()} == {n: i["image_id"] for n, i in first.items()}
    assert not engine_work(docker_api, since, case, cache_before, env)
    (root / "solo" / "again.txt").write_text("a real change, to show the check can fail")
    since, cache_before = int(time.time()), build_cache_use(docker_api)
    report(root, env, "solo")
    assert engine_work(docker_api, since, case, cache_before, env)
    (root / "solo" / "again.txt").unlink()

    # touching, and adding or changing an ignored file, rebuilds nothing
    os.utime(root / "mid1" / "data.txt", None)
    (root / "mid1" / "debug.log").write_text("noise")
    (root / "mid1" / "scratch").mkdir()
    (root / "mid1" / "scratch" / "tmp.bin").write_bytes(b"\0" * 100)
    again, _ = report(root, env)
    assert {i["status"] for i in again.values()} == {"cached"}
    (root / "mid1" / "debug.log").write_text("more noise")
    plan = json.loads(run(["plan", "--json"], root, env, check=0).stdout)
    assert {s["action"] for s in plan["steps"]} == {"cached"}

    # a content change in mid1 rebuilds mid1 and leaf only, and plan says why
    (root / "mid1" / "data.txt").write_text("one, changed\n")
    plan = {s["name"]: s for s in json.loads(run(["plan", "--json"], root, env, check=0).stdout)["steps"]}
    assert plan["mid1"]["action"] == "build" and "data.txt" in plan["mid1"]["reason"]
    assert plan["leaf"]["reason"] == "parent 'mid1' rebuilt"
    changed, _ = report(root, env)
    assert {n for n, i in changed.items() if i["status"] == "built"} == {"mid1", "leaf"}

    # an arg change rebuilds that image and its descendants
    changed, _ = report(root, {**env, "FLAVOR": "spicy"})
    assert {n for n, i in changed.items() if i["status"] == "built"} == {"mid1", "leaf"}
    assert "args changed: FLAVOR" in changed["mid1"]["reason"]

    # a failing image: exit 1, its child skipped with the cause, nothing tagged for it
    failed, proc = report(root, env, "broken+", code=1)
    assert failed["broken"]["status"] == "failed"
    assert failed["broken-child"]["status"] == "skipped"
    assert "broken" in failed["broken-child"]["reason"]
    assert "about to fail" in proc.stderr and "full log:" in proc.stderr
    assert engine.inspect_image(f"{root.name and failed['broken']['tags'][0]}") is None

    # --keep-going still builds the independent image; without it, fail-fast may stop it
    (root / "solo" / "new.txt").write_text("new")
    kept, proc = report(root, env, "broken+", "solo", "--keep-going", "--jobs", "1", code=1)
    assert kept["solo"]["status"] == "built"
    assert kept["broken-child"]["status"] == "skipped"
