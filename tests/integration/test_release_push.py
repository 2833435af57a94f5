"""`images build --push` and the registry-side cache, as a release pipeline runs them: on the real
engine and the registry on 127.0.0.1:5000 (and a registry that is down, on 127.0.0.1:5999)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import pytest

DOWN_REGISTRY = "127.0.0.1:5999"   # nothing listens here


@dataclass
class Release:
    root: Path
    case: object
    registry: str
    env: Dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "builder", *args], cwd=self.root,
                                capture_output=True, text=True, env=self.env, timeout=300)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def build(self, *args: str, code: int = 0):
        """(report images by name, the finished process)."""
        report = self.root / "report.json"
        if report.exists():
            report.unlink()
        result = self.run("build", "--progress", "plain", "--report", str(report), *args)
        assert result.returncode == code, f"build {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return {i["name"]: i for i in json.loads(report.read_text())["images"]}, result

    def plan(self, *args: str) -> Dict[str, dict]:
        result = self.run("plan", "--json", *args)
        assert result.returncode == 0, result.stderr
        return {s["name"]: s for s in json.loads(result.stdout)["steps"]}

    def local(self, name: str, tag: str = "latest") -> str:
        return f"{self.case.prefix}/{name}:{tag}"

    def remote_repository(self, name: str) -> str:
        """The repository inside the registry (without its host)."""
        return f"{self.case.prefix}/{self.case.prefix}/{name}"

    def remote(self, name: str, tag: str = "latest") -> str:
        return f"{self.registry}/{self.remote_repository(name)}:{tag}"

    def tags(self, name: str) -> List[str]:
        """The tags the registry holds for ``name`` ([] when it never saw the repository)."""
        url = f"http://{self.registry}/v2/{self.remote_repository(name)}/tags/list"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return sorted(json.load(answer).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise


def write_set(root: Path, case, busybox_context, registry: str, extra: str = "") -> None:
    """base (FROM scratch + busybox) -> mid -> leaf, published under ``registry/<prefix>``."""
    busybox_context('CMD ["/bin/busybox", "echo", "base"]\n').rename(root / "base")
    for name, parent, body in (("mid", "base:1.0", ""), ("leaf", "mid:latest", 'RUN ["/bin/busybox", "cat", "/mid.txt"]\n')):
        folder = root / name
        folder.mkdir()
        (folder / "Dockerfile").write_text(f"FROM {case.prefix}/{parent}\nLABEL {case.label}\n"
                                           f"COPY {name}.txt /{name}.txt\n{body}")
        (folder / f"{name}.txt").write_text(f"{name}\n")
    (root / "images.yaml").write_text(
        "version: 1\n"
        f"registry: {registry}/{case.prefix}\n"
        "images:\n"
        f"  base: {{context: base, repository: {case.prefix}/base, tags: [latest, '1.0']}}\n"
        f"  mid: {{context: mid, repository: {case.prefix}/mid}}\n"
        f"  leaf: {{context: leaf, repository: {case.prefix}/leaf, tags: [latest, v1]}}\n" + extra)


@pytest.fixture
def release(tmp_path, case, busybox_context, engine, registry) -> Release:
    root = tmp_path / "project"
    root.mkdir()
    write_set(root, case, busybox_context, registry)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    r = Release(root, case, registry, env)
    case.registry_repositories += [r.remote_repository(n) for n in ("base", "mid", "leaf", "bad")]
    return r


def remove_everything_local(docker_api, case) -> None:
    """What a fresh runner has: none of the set's images (children before their parents)."""
    for _ in range(3):
        images = docker_api.images(all=True, filters={"label": case.label})
        if not images:
            return
        for image in sorted(images, key=lambda i: i.get("Created", 0), reverse=True):
            try:
                docker_api.remove_image(image["Id"], force=True)
            except Exception:  # noqa: BLE001 - gone with a child already
                pass
    assert docker_api.images(all=True, filters={"label": case.label}) == []


# -- all or nothing, and the registry cache -----------------------------------------------------

def test_a_fresh_runner_builds_nothing_that_is_published(release, engine, docker_api):
    first, result = release.build("--push")
    assert {n: i["status"] for n, i in first.items()} == {"base": "built", "mid": "built", "leaf": "built"}
    assert [p["reference"] for p in first["leaf"]["pushed"]] == [release.remote("leaf"), release.remote("leaf", "v1")]
    assert all(p["action"] == "pushed" and p["digest"].startswith("sha256:") for i in first.values()
               for p in i["pushed"])
    assert release.tags("base") == ["1.0", "latest"] and release.tags("leaf") == ["latest", "v1"]
    assert f"leaf\tpushed\t{release.remote('leaf', 'v1')}\tsha256:" in result.stdout

    remove_everything_local(docker_api, release.case)
    plan = release.plan()
    assert {n: s["action"] for n, s in plan.items()} == {"base": "cached", "mid": "cached", "leaf": "cached"}
    assert plan["leaf"]["reason"] == (f"cached (registry): key {first['leaf']['cache_key'][:12]}\u2026 "
                                      f"at {release.remote('leaf')}")
    assert plan["leaf"]["registry"]["digest"] == first["leaf"]["pushed"][0]["digest"]
    assert {s["action"] for s in release.plan("--no-registry-cache").values()} == {"build"}

    again, result = release.build("--push")
    assert {n: i["status"] for n, i in again.items()} == {"base": "cached", "mid": "cached", "leaf": "cached"}
    assert all(i["cache_key"] == first[n]["cache_key"] for n, i in again.items())
    assert {p["action"] for i in again.values() for p in i["pushed"]} == {"present"}
    assert docker_api.images(all=True, filters={"label": release.case.label}) == []   # nothing pulled
    assert release.tags("leaf") == ["latest", "v1"]
    assert "Step " not in result.stderr and "pulling" not in result.stderr

    # a new tag on an unchanged image: the registry tags the manifest it holds, nothing is pulled
    manifest = (release.root / "images.yaml").read_text().replace("tags: [latest, v1]", "tags: [latest, v1, v2]")
    (release.root / "images.yaml").write_text(manifest)
    tagged, _ = release.build("--push", "leaf")
    assert tagged["leaf"]["status"] == "cached"
    assert [(p["reference"], p["action"]) for p in tagged["leaf"]["pushed"]] == [
        (release.remote("leaf"), "present"), (release.remote("leaf", "v1"), "present"),
        (release.remote("leaf", "v2"), "tagged")]
    assert tagged["leaf"]["pushed"][2]["digest"] == first["leaf"]["pushed"][0]["digest"]
    assert release.tags("leaf") == ["latest", "v1", "v2"]
    assert docker_api.images(all=True, filters={"label": release.case.label}) == []


def test_a_changed_child_is_built_on_the_pulled_parent(release, engine, docker_api):
    first, _ = release.build("--push")
    remove_everything_local(docker_api, release.case)
    (release.root / "leaf" / "leaf.txt").write_text("changed\n")

    again, result = release.build("--push")
    assert {n: i["status"] for n, i in again.items()} == {"base": "cached", "mid": "cached", "leaf": "built"}
    assert "[mid] pulling " in result.stderr and "[base] pulling" not in result.stderr
    assert engine.inspect_image(release.local("mid"))["Id"] == first["mid"]["image_id"]   # the same build
    assert engine.inspect_image(release.local("base", "1.0")) is None                     # not needed here
    # RUN saw the parent (BuildKit's lines carry a step number and time: "[leaf] #6 0.051 mid")
    assert re.search(r"^\[leaf\] (?:#\d+ \d+\.\d+ )?mid$", result.stderr, re.MULTILINE)
    assert [p["action"] for p in again["leaf"]["pushed"]] == ["pushed", "pushed"]
    assert again["leaf"]["pushed"][0]["digest"] != first["leaf"]["pushed"][0]["digest"]
    assert {p["action"] for n in ("base", "mid") for p in again[n]["pushed"]} == {"present"}

    # without --push the user asked for the images: every one found in the registry is pulled
    remove_everything_local(docker_api, release.case)
    local, _ = release.build()
    assert {n: i["status"] for n, i in local.items()} == {"base": "cached", "mid": "cached", "leaf": "cached"}
    for name, tag in (("base", "latest"), ("base", "1.0"), ("mid", "latest"), ("leaf", "v1")):
        assert engine.inspect_image(release.local(name, tag))["Id"] == local[name]["image_id"]


BAD = "  bad: {context: bad, repository: %s/bad}\n"


def add_failing_image(release: Release) -> None:
    folder = release.root / "bad"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM {release.case.prefix}/base:1.0\nLABEL {release.case.label}\n"
                                       'RUN ["/bin/busybox", "false"]\n')
    with open(release.root / "images.yaml", "a") as f:
        f.write(BAD % release.case.prefix)


def test_one_failure_publishes_nothing_and_eager_publishes_what_built(release):
    add_failing_image(release)
    images, result = release.build("--push", "--keep-going", code=1)
    assert {n: i["status"] for n, i in images.items()} == {
        "base": "built", "mid": "built", "leaf": "built", "bad": "failed"}
    assert "nothing was pushed: 1 image failed" in result.stderr
    assert all(i["pushed"] == [] for i in images.values())
    assert [release.tags(n) for n in ("base", "mid", "leaf", "bad")] == [[], [], [], []]

    images, result = release.build("--push=eager", "--keep-going", code=1)
    assert {n: i["status"] for n, i in images.items()} == {
        "base": "cached", "mid": "cached", "leaf": "cached", "bad": "failed"}
    assert "nothing was pushed" not in result.stderr
    assert [release.tags(n) for n in ("base", "mid", "leaf", "bad")] == [["1.0", "latest"], ["latest"],
                                                                         ["latest", "v1"], []]
    assert [p["action"] for p in images["leaf"]["pushed"]] == ["pushed", "pushed"]
    assert images["bad"]["pushed"] == []


def test_eager_without_keep_going_publishes_exactly_the_images_that_built(release):
    add_failing_image(release)
    images, _ = release.build("--push=eager", "--jobs", "1", code=1)
    ready = sorted(n for n, i in images.items() if i["status"] in ("built", "cached"))
    assert images["bad"]["status"] == "failed" and "base" in ready
    assert sorted(n for n in ("base", "mid", "leaf", "bad") if release.tags(n)) == ready


# -- a registry that is down ----------------------------------------------------------------------

def test_a_registry_that_is_down_keeps_plan_fast_and_fails_the_push_clearly(tmp_path, case, busybox_context,
                                                                          engine):
    root = tmp_path / "project"
    root.mkdir()
    write_set(root, case, busybox_context, DOWN_REGISTRY)
    release = Release(root, case, DOWN_REGISTRY, {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})

    started = time.monotonic()
    result = release.run("plan")
    assert time.monotonic() - started < 5
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(f"could not ask the registry at {DOWN_REGISTRY} (connection refused)") == 1
    assert {line.split()[2] for line in result.stdout.splitlines()[1:] if line[:1].isdigit()} == {"build"}

    images, result = release.build("--push", code=1)
    assert {i["status"] for i in images.values()} == {"built"}
    assert f"images: base: cannot push {release.remote('base')}" in result.stderr
    assert "connection refused" in result.stderr and "the built images are kept locally" in result.stderr
    assert images["base"]["push_error"].startswith("cannot push")
    assert images["leaf"]["push_error"] == "not pushed: the push of 'base' failed"
    for name, tag in (("base", "latest"), ("base", "1.0"), ("mid", "latest"), ("leaf", "latest"), ("leaf", "v1")):
        assert engine.inspect_image(release.local(name, tag))["Id"] == images[name]["image_id"]
    assert engine.inspect_image(release.remote("base")) is None   # the push-only tag is gone again
