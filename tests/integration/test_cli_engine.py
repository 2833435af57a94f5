"""The command line against the real engine: interruption, no engine, the repository's own manifest."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def images(args, cwd, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)


def test_interrupt_exits_130_quickly_and_leaves_no_tag(tmp_path, case, busybox_context, engine):
    folder = busybox_context('RUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN sleep 60\n')
    folder.rename(tmp_path / "slow")
    (tmp_path / "images.yaml").write_text(
        f"version: 1\nimages:\n  slow: {{context: slow, repository: {case.prefix}/slow}}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "builder", "build", "--progress", "plain", "--report", "r.json"],
                            cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    seen = ""
    while "sleep 60" not in seen and time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert "sleep 60" in seen, seen
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, rest = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, seen + rest
    assert elapsed < 5, elapsed
    assert "Traceback" not in rest
    assert engine.inspect_image(f"{case.prefix}/slow:latest") is None
    report = json.loads((tmp_path / "r.json").read_text())   # written on interruption too
    assert report["exit_code"] == 130
    assert [(i["name"], i["status"]) for i in report["images"]] == [("slow", "skipped")]


def test_no_engine_is_one_clear_line_and_exit_3(tmp_path):
    shutil.copytree(REPO / "Dockerfiles", tmp_path / "Dockerfiles")
    shutil.copy(REPO / "images.yaml", tmp_path)
    result = images(["build"], tmp_path, {"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unix:///nonexistent/docker.sock" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_repository_manifest_builds_offline_then_is_cached(tmp_path, engine):
    shutil.copytree(REPO / "Dockerfiles", tmp_path / "Dockerfiles")
    shutil.copy(REPO / "images.yaml", tmp_path)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    from builder.plan.state import project_id

    label = f"images.project={project_id(tmp_path / 'images.yaml')}"
    try:
        # --no-cache: an earlier checkout may have built the same inputs on this engine already
        first = images(["build", "--no-cache", "--progress", "plain", "--report", "r.json"], tmp_path, env)
        assert first.returncode == 0, first.stderr
        built = {i["name"]: i["status"] for i in json.loads((tmp_path / "r.json").read_text())["images"]}
        assert built == {"base": "built", "site": "built"}
        second = images(["build", "--report", "r.json"], tmp_path, env)
        assert second.returncode == 0, second.stderr
        assert {i["status"] for i in json.loads((tmp_path / "r.json").read_text())["images"]} == {"cached"}
        site = engine.inspect_image("images-example/site:latest")
        assert site["Config"]["Labels"]["example.greeting"] == "Hello from images"
    finally:
        for image in engine.list_images(label=label):
            for tag in image.get("RepoTags") or []:
                try:
                    engine.untag(tag)
                except Exception:
                    pass


def test_context_lists_what_the_engine_receives(tmp_path):
    ctx = tmp_path / "app"
    (ctx / "src").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (ctx / ".dockerignore").write_text("**/*.log\nsrc/secret*\n!src/secret-ok.txt\nDockerfile\n")
    for name in ["src/main.c", "src/debug.log", "src/secret.key", "src/secret-ok.txt", "top.log"]:
        (ctx / name).write_text("x" * 10)
    (tmp_path / "images.yaml").write_text("version: 1\nimages:\n  app: {context: app}\n")
    result = images(["context", "app", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    paths = [e["path"] for e in data["entries"] if e["type"] != "dir"]
    assert paths == [".dockerignore", "Dockerfile", "src/main.c", "src/secret-ok.txt"]
    assert data["files"] == 4
