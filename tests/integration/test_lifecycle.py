"""The image lifecycle commands as a user runs them (`python -m builder ...` in a project folder),
against the real engine and the registry on 127.0.0.1:5000."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import pytest

DOWN_REGISTRY = "127.0.0.1:5999"   # nothing listens here


@dataclass
class Project:
    root: Path
    case: object
    env: Dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "builder", *args], cwd=self.root,
                                capture_output=True, text=True, env=self.env, timeout=300)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        result = self.run(*args)
        assert result.returncode == 0, f"images {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def repo(self, name: str) -> str:
        return f"{self.case.prefix}/{name}"

    def manifest(self, *, registry: Optional[str] = None, images: str = "") -> None:
        text = "version: 1\n"
        if registry:
            text += f"registry: {registry}\n"
        text += ("images:\n"
                 f"  base: {{context: base, repository: {self.repo('base')}, tags: [latest, '1.0']}}\n"
                 f"  child: {{context: child, repository: {self.repo('child')}}}\n")
        (self.root / "images.yaml").write_text(text + images)

    def statuses(self, *args: str) -> List[tuple]:
        lines = self.ok("ls", *args).stdout.splitlines()
        assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE", "STATUS"]
        return [(line.split()[0], line.split()[1], line.rsplit("   ", 1)[-1].strip()) for line in lines[1:]]

    def report(self, *args: str) -> Dict[str, str]:
        self.ok("build", "--progress", "plain", "--report", "report.json", *args)
        data = json.loads((self.root / "report.json").read_text())
        return {i["name"]: i["status"] for i in data["images"]}


@pytest.fixture
def project(tmp_path, case, busybox_context, engine) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    busybox_context('CMD ["/bin/busybox", "echo", "hello-from-base"]\n').rename(root / "base")
    child = root / "child"
    child.mkdir()
    (child / "Dockerfile").write_text(f"FROM {case.prefix}/base:1.0\nLABEL {case.label}\n"
                                      "COPY msg /msg\n")
    (child / "msg").write_text("one\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NO_COLOR", None)
    p = Project(root, case, env)
    p.manifest()
    return p


def image_id(engine, reference: str) -> Optional[str]:
    info = engine.inspect_image(reference)
    return info["Id"] if info else None


# -- ls, tag, inspect, history ------------------------------------------------------------------

def test_ls_says_up_to_date_stale_or_missing(project, engine):
    project.manifest(images=f"  extra: {{context: base, repository: {project.repo('extra')}}}\n")
    project.ok("build", "base", "child")
    base, child = project.repo("base"), project.repo("child")
    assert project.statuses() == [(base, "latest", "up to date"), (base, "1.0", "up to date"),
                                  (child, "latest", "up to date"), (project.repo("extra"), "latest", "missing")]
    (project.root / "child" / "msg").write_text("two\n")
    assert project.statuses("child") == [(child, "latest", "stale")]
    quiet = project.ok("ls", "-q").stdout.split()
    assert quiet == [image_id(engine, f"{base}:latest")[7:19], image_id(engine, f"{child}:latest")[7:19]]
    row = project.ok("ls", "base").stdout.splitlines()[1]
    assert re.match(rf"{re.escape(base)}\s+latest\s+[0-9a-f]{{12}}\s+(\d+ seconds|Less than a second|"
                    rf"1 second|About a minute) ago\s+\d+(\.\d+)?MB\s+up to date$", row), row


def test_tag_promotes_a_built_image(project, engine):
    project.ok("build")
    base = project.repo("base")
    result = project.ok("tag", "base", "v9")
    assert f"{base}:v9" in result.stdout
    assert image_id(engine, f"{base}:v9") == image_id(engine, f"{base}:latest")
    bad = project.run("tag", "base", "bad/tag")
    assert bad.returncode == 2 and "invalid tag 'bad/tag'" in bad.stderr
    project.manifest(images=f"  extra: {{context: base, repository: {project.repo('extra')}}}\n")
    missing = project.run("tag", "extra", "v1")
    assert missing.returncode == 1
    assert "build it first: images build extra" in missing.stderr
    typo = project.run("tag", "bsae", "v1")
    assert typo.returncode == 2 and "did you mean 'base'" in typo.stderr


DOCKER = shutil.which("docker")


@pytest.mark.skipif(DOCKER is None, reason="compares with the docker CLI's output")
def test_inspect_and_history_print_what_docker_prints(project, engine):
    project.ok("build")
    child = f"{project.repo('child')}:latest"
    ours = project.ok("inspect", "child").stdout
    theirs = subprocess.run([DOCKER, "image", "inspect", child], capture_output=True, text=True).stdout
    assert ours == theirs
    assert json.loads(ours)[0]["Id"] == image_id(engine, child)
    both = json.loads(project.ok("inspect", "child", "base").stdout)
    assert child in both[0]["RepoTags"] and f"{project.repo('base')}:latest" in both[1]["RepoTags"]
    for args in ([], ["--no-trunc"], ["-q"]):
        for _attempt in range(3):  # an age may tick over between the two commands
            ours = project.ok("history", "child", *args).stdout
            theirs = subprocess.run([DOCKER, "image", "history", *args, child], capture_output=True,
                                    text=True).stdout
            if ours == theirs:
                break
        assert ours == theirs, (args, ours, theirs)
    missing = project.run("inspect", "nonexistent-image-xyz")
    assert missing.returncode == 2 and "no image named 'nonexistent-image-xyz'" in missing.stderr


@pytest.mark.skipif(DOCKER is None, reason="compares with the docker CLI's output")
def test_inspect_format_renders_like_docker(project, case):
    pytest.importorskip("builder.gotemplate")
    label = case.label.partition("=")[0]
    project.ok("build")
    child = f"{project.repo('child')}:latest"
    templates = ["{{.Id}}", "{{ .Architecture }}", "{{json .RootFS.Layers}}", "{{.Config.Cmd}}",
                 "{{ index .Config.Labels \"" + label + "\" }}", "{{json .Config}}",
                 "{{range .RepoTags}}{{.}} {{end}}", "{{join .Config.Cmd \",\"}}"]
    for template in templates:
        ours = project.ok("inspect", "child", "--format", template).stdout
        theirs = subprocess.run([DOCKER, "image", "inspect", "--format", template, child],
                                capture_output=True, text=True).stdout
        assert ours == theirs, template
    bad = project.run("inspect", "child", "--format", "{{.Id")
    assert bad.returncode == 2 and bad.stderr.startswith("images: --format") and len(bad.stderr.splitlines()) == 1


# -- push and pull --------------------------------------------------------------------------------

def test_push_remove_and_pull_back_gives_the_same_images(project, engine, registry):
    project.manifest(registry=registry)
    project.case.registry_repositories += [project.repo("base"), project.repo("child")]
    project.ok("build")
    local = {ref: image_id(engine, ref) for ref in (f"{project.repo('base')}:latest",
                                                    f"{project.repo('base')}:1.0",
                                                    f"{project.repo('child')}:latest")}
    pushed = project.ok("push")
    remotes = [f"{registry}/{ref}" for ref in local]
    assert [line.split("\t")[2] for line in pushed.stdout.splitlines()] == remotes
    assert all(re.search(r"\tsha256:[0-9a-f]{64}$", line) for line in pushed.stdout.splitlines())
    assert re.search(r"^\[base\] layer [0-9a-f]{12}: (Pushed|Layer already exists)$", pushed.stderr, re.M)
    assert all(engine.inspect_image(remote) is None for remote in remotes)  # push-only tags are gone
    removed = project.ok("rm")
    assert removed.stdout.count("Untagged:") == 3 and "Deleted:" in removed.stdout
    assert all(engine.inspect_image(ref) is None for ref in local)
    for ref, remote in zip(local, remotes):
        assert engine.pull(remote) == local[ref]


def test_push_to_a_registry_that_is_down_fails_clearly_and_keeps_everything(project, engine):
    project.manifest(registry=f"{DOWN_REGISTRY}/x")
    project.ok("build")
    before = {ref: image_id(engine, ref) for ref in (f"{project.repo('base')}:latest",
                                                     f"{project.repo('child')}:latest")}
    result = project.run("push")
    assert result.returncode == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("images: ")]
    assert len(failures) == 2, result.stderr
    assert all(DOWN_REGISTRY in line and "connection refused" in line for line in failures)
    assert {ref: image_id(engine, ref) for ref in before} == before
    assert engine.inspect_image(f"{DOWN_REGISTRY}/x/{project.repo('base')}:latest") is None
    assert project.statuses() == [(project.repo("base"), "latest", "up to date"),
                                  (project.repo("base"), "1.0", "up to date"),
                                  (project.repo("child"), "latest", "up to date")]


def test_push_of_an_image_not_built_says_to_build_it(project, registry):
    project.manifest(registry=registry)
    result = project.run("push", "child")
    assert result.returncode == 1
    assert "build it first: images build child" in result.stderr


def test_pull_fetches_the_external_bases(project, engine, registry, busybox_context, tar_stream, case):
    upstream = case.ref("upstream", "1", registry=registry)
    folder = busybox_context()
    engine.tag(engine.build(tar_stream(folder)), upstream)
    engine.push(upstream)
    engine.untag(upstream)
    assert engine.inspect_image(upstream) is None
    app = project.root / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(f"FROM {upstream}\nLABEL {case.label}\n")
    project.manifest(images=f"  app: {{context: app, repository: {project.repo('app')}}}\n")
    result = project.ok("pull")
    assert result.stdout.splitlines() == [f"{upstream}\tpulled\t{image_id(engine, upstream)[7:19]}"]
    assert "scratch" not in result.stdout
    (app / "Dockerfile").write_text(f"FROM {registry}/{case.prefix}/not-there:1\n")
    failed = project.run("pull", "app")
    assert failed.returncode == 1 and f"cannot pull {registry}/{case.prefix}/not-there:1" in failed.stderr


# -- save, load, rm, prune, import ----------------------------------------------------------------

def test_save_remove_everything_load_and_build_is_all_cached(project, engine, case):
    assert project.report() == {"base": "built", "child": "built"}
    saved = project.ok("save", "child", "-o", "release.tar")  # brings its parent along
    assert saved.stdout.split() == [f"{project.repo('base')}:latest", f"{project.repo('base')}:1.0",
                                    f"{project.repo('child')}:latest"]
    project.ok("rm")
    assert engine.list_images(label=case.label, all=True) == []
    loaded = project.ok("load", "-i", "release.tar")
    assert sorted(loaded.stdout.splitlines()) == sorted(f"Loaded image: {ref}" for ref in saved.stdout.split())
    assert project.report() == {"base": "cached", "child": "cached"}
    missing = project.run("load", "-i", "no-such.tar")
    assert missing.returncode == 2 and "no-such.tar" in missing.stderr


def test_rm_refuses_while_a_container_uses_the_image_unless_forced(project, engine, docker_api):
    project.ok("build")
    child = f"{project.repo('child')}:latest"
    container = docker_api.create_container(image=child, command=["/bin/busybox", "true"],
                                            name=f"{project.case.prefix}-user")
    try:
        refused = project.run("rm", "child")
        assert refused.returncode == 1
        assert f"{project.case.prefix}-user" in refused.stderr and "--force" in refused.stderr
        assert engine.inspect_image(child) is not None
        project.ok("rm", "--file", "images.yaml", "-f", "child")
        assert engine.inspect_image(child) is None
        assert engine.inspect_image(f"{project.repo('base')}:latest") is not None
    finally:
        docker_api.remove_container(container["Id"], force=True)


def test_prune_removes_a_superseded_build_and_keeps_the_current_one(project, engine):
    project.ok("build")
    old = image_id(engine, f"{project.repo('child')}:latest")
    (project.root / "child" / "msg").write_text("two\n")
    project.ok("build")
    current = image_id(engine, f"{project.repo('child')}:latest")
    assert current != old
    rows = project.ok("ls", "-a").stdout.splitlines()
    assert any(old[7:19] in row and row.endswith("superseded") for row in rows), rows
    dry = project.ok("prune", "--dry-run")
    assert old[7:19] in dry.stdout and "Total reclaimable space:" in dry.stdout
    assert engine.inspect_image(old) is not None
    pruned = project.ok("prune")
    assert f"deleted: {old}" in pruned.stdout
    assert re.search(r"^Total reclaimed space: \d+(\.\d+)?[kM]?B$", pruned.stdout, re.M), pruned.stdout
    assert engine.inspect_image(old) is None
    assert image_id(engine, f"{project.repo('child')}:latest") == current
    assert image_id(engine, f"{project.repo('base')}:1.0") is not None
    assert "superseded" not in project.ok("ls", "-a").stdout
    again = project.ok("prune")
    assert "Total reclaimed space: 0B" in again.stdout


def test_an_imported_rootfs_is_the_base_of_a_child_that_runs(project, engine, docker_api, rootfs_tarball, case):
    shutil.copy(rootfs_tarball, project.root / "rootfs.tar")
    app = project.root / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(
        f"FROM {project.repo('rootfs')}:latest\nLABEL {case.label}\n"
        'RUN echo hello-from-child\nCMD ["/bin/sh", "-c", "echo hello-from-child"]\n')
    (project.root / "images.yaml").write_text(
        "version: 1\nimages:\n"
        f"  rootfs: {{import: rootfs.tar, repository: {project.repo('rootfs')}}}\n"
        f"  app: {{context: app, repository: {project.repo('app')}}}\n")
    assert project.report() == {"rootfs": "built", "app": "built"}
    container = docker_api.create_container(image=f"{project.repo('app')}:latest")
    try:
        docker_api.start(container["Id"])
        assert docker_api.wait(container["Id"], timeout=60)["StatusCode"] == 0
        assert docker_api.logs(container["Id"]) == b"hello-from-child\n"
    finally:
        docker_api.remove_container(container["Id"], force=True)
    assert project.report() == {"rootfs": "cached", "app": "cached"}


def test_import_makes_an_image_from_a_tarball(project, engine, rootfs_tarball):
    reference = f"{project.repo('imported')}:1"
    result = project.ok("import", str(rootfs_tarball), reference, "--change", 'CMD ["/bin/sh"]')
    assert result.stdout.strip() == image_id(engine, reference)
    assert engine.inspect_image(reference)["Config"]["Cmd"] == ["/bin/sh"]
    missing = project.run("import", "no-such.tar", reference)
    assert missing.returncode == 2 and "no-such.tar" in missing.stderr
    bad = project.run("import", str(rootfs_tarball), "Bad/Name")
    assert bad.returncode == 2
