"""Release pipelines on the real engine: provenance labels, semver tags from git, --junit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def run(args, cwd: Path, env=None, check=None):
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


def build(root: Path, env, *args, code=0):
    path = root.parent / "report.json"
    proc = run(["build", "--progress", "plain", "--report", str(path), *args], root, env, check=code)
    return {i["name"]: i for i in json.loads(path.read_text())["images"]}, proc


@pytest.fixture
def repo(git_repo, case, busybox_context, tmp_path):
    """A git repository holding one busybox image, `app`; committed, on branch main."""
    busybox_context("RUN [\"/bin/busybox\", \"true\"]\n", files={"hello.txt": "hi\n"}).rename(git_repo.root / "app")
    git_repo.write({"README.md": "the project\n"})
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1", "SOURCE_DATE_EPOCH": "1700000000"}
    return git_repo, env


def write_manifest(git_repo, case, **settings) -> None:
    lines = ["version: 1", "images:", "  app:", "    context: app", f"    repository: {case.prefix}/app"]
    lines += [f"    {key}: {value}" for key, value in settings.items()]
    (git_repo.root / "images.yaml").write_text("\n".join(lines) + "\n")


def test_provenance_labels_do_not_defeat_the_cache(repo, case, engine):
    git_repo, env = repo
    git_repo.git("remote", "add", "origin", "https://ci-bot:s3cret-token@git.example.com/acme/app.git")
    write_manifest(git_repo, case, tags='["${GIT_SHORT_SHA}", edge]',
                   labels="{org.opencontainers.image.vendor: acme}")
    first_commit = git_repo.commit("first")
    first, _ = build(git_repo.root, env)
    assert first["app"]["status"] == "built"
    labels = engine.inspect_image(first["app"]["image_id"])["Config"]["Labels"]
    assert {k: v for k, v in labels.items() if k.startswith("org.opencontainers.")} == {
        "org.opencontainers.image.revision": first_commit,
        "org.opencontainers.image.source": "https://git.example.com/acme/app.git",
        "org.opencontainers.image.version": first_commit[:7],
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
        "org.opencontainers.image.vendor": "acme",
    }

    # a new commit (outside the context) and a new time: cached, re-tagged with the new commit
    second_commit = git_repo.commit("docs", {"README.md": "more words\n"})
    again, _ = build(git_repo.root, {**env, "SOURCE_DATE_EPOCH": "1800000000"})
    assert again["app"]["status"] == "cached"
    assert again["app"]["image_id"] == first["app"]["image_id"]
    assert engine.inspect_image(f"{case.prefix}/app:{second_commit[:7]}")["Id"] == first["app"]["image_id"]

    # a user label of the same name wins over the provenance one (and, being an input, rebuilds)
    write_manifest(git_repo, case, tags="[edge]", labels="{org.opencontainers.image.source: https://x.example/y}")
    third, _ = build(git_repo.root, env)
    assert third["app"]["status"] == "built"
    labels = engine.inspect_image(third["app"]["image_id"])["Config"]["Labels"]
    assert labels["org.opencontainers.image.source"] == "https://x.example/y"
    assert labels["org.opencontainers.image.revision"] == second_commit
    assert labels["org.opencontainers.image.version"] == "edge"


def tags_of(engine, case, image_id):
    prefix = f"{case.prefix}/app:"
    return sorted(t[len(prefix):] for t in engine.inspect_image(image_id)["RepoTags"] if t.startswith(prefix))


def test_semver_tags_from_git(repo, case, engine):
    git_repo, env = repo
    write_manifest(git_repo, case, semver='"${GIT_TAG}"')
    older = git_repo.commit("1.3 line")
    git_repo.commit("1.4 line", {"app/hello.txt": "hi from 1.4\n"})
    git_repo.tag("v1.4.0", annotated=True)

    at_140, _ = build(git_repo.root, env)
    assert sorted(at_140["app"]["tags"]) == sorted(f"{case.prefix}/app:{t}" for t in ("1.4.0", "1.4", "1", "latest"))
    image_140 = at_140["app"]["image_id"]
    assert tags_of(engine, case, image_140) == ["1", "1.4", "1.4.0", "latest"]
    labels = engine.inspect_image(image_140)["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.4.0"

    # a patch release of the older line, tagged later: 1.3.9 and 1.3 only
    git_repo.git("checkout", "-q", older)
    git_repo.tag("v1.3.9")
    at_139, _ = build(git_repo.root, env)
    assert sorted(at_139["app"]["tags"]) == sorted(f"{case.prefix}/app:{t}" for t in ("1.3.9", "1.3"))
    assert tags_of(engine, case, at_139["app"]["image_id"]) == ["1.3", "1.3.9"]
    assert tags_of(engine, case, image_140) == ["1", "1.4", "1.4.0", "latest"]

    # a pre-release: its own tag only
    git_repo.git("checkout", "-q", "main")
    git_repo.commit("2.0 line", {"app/hello.txt": "hi from 2.0\n"})
    git_repo.tag("v2.0.0-rc.1")
    rc, _ = build(git_repo.root, env)
    assert rc["app"]["tags"] == [f"{case.prefix}/app:2.0.0-rc.1"]
    assert tags_of(engine, case, rc["app"]["image_id"]) == ["2.0.0-rc.1"]
    assert tags_of(engine, case, image_140) == ["1", "1.4", "1.4.0", "latest"]


def test_junit_report(repo, case, engine, busybox_context):
    git_repo, env = repo
    root = git_repo.root
    busybox_context('RUN ["/bin/busybox", "sh", "-c", "echo about to fail; exit 3"]\n').rename(root / "broken")
    (root / "child").mkdir()
    (root / "child" / "Dockerfile").write_text(f"FROM {case.prefix}/broken\n")
    (root / "images.yaml").write_text(
        f"version: 1\nimages:\n"
        f"  app: {{context: app, repository: {case.prefix}/app}}\n"
        f"  broken: {{context: broken, repository: {case.prefix}/broken}}\n"
        f"  child: {{context: child, repository: {case.prefix}/child}}\n")
    junit = root.parent / "out" / "junit.xml"

    run(["build", "app", "--progress", "quiet"], root, env, check=0)
    run(["build", "app", "broken", "child", "--keep-going", "--progress", "quiet", "--junit", str(junit)],
        root, env, check=1)
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"app", "broken", "child"}
    assert all(c.get("classname") == "images" and float(c.get("time")) >= 0 for c in cases.values())
    assert cases["app"].find("system-out").text.startswith("cached: inputs unchanged")
    failure = cases["broken"].find("failure")
    assert "3" in failure.get("message")
    assert "about to fail" in failure.text and "full log:" in failure.text
    assert "broken" in cases["child"].find("skipped").get("message")
    assert os.listdir(junit.parent) == ["junit.xml"]
