"""`images changed --since REV` in a git fixture: exactly the changed images and their descendants."""
from __future__ import annotations

import json
import os
import textwrap

import pytest

from builder.cli import main
from builder.manifest import load_manifest
from builder.plan.changed import changed_since
from builder.plan.graph import build_graph

MANIFEST = textwrap.dedent("""\
    version: 1
    images:
      base: {context: base, repository: acme/base}
      a: {context: a, repository: acme/a}
      b: {context: b, repository: acme/b, args: {GREETING: "${GREETING:-hello}"}}
      a-child: {context: a-child, repository: acme/a-child}
      c: {context: c, repository: acme/c, tags: ["${GIT_SHORT_SHA}"]}
    """)

FILES = {
    "base/Dockerfile": "FROM scratch\nCOPY rootfs /\n",
    "base/rootfs/etc/release": "1\n",
    "base/rootfs/bin/tool": "#!/bin/sh\necho tool\n",
    "a/Dockerfile": "FROM acme/base\nCOPY app.txt /\n",
    "a/app.txt": "a\n",
    "a/.dockerignore": "*.log\n",
    "b/Dockerfile": "FROM acme/base\nARG GREETING\nRUN echo $GREETING\n",
    "a-child/Dockerfile": "FROM acme/a\n",
    "c/Dockerfile": "FROM scratch\nCOPY c.txt /\n",
    "c/c.txt": "c\n",
    "README.md": "the project\n",
}


@pytest.fixture
def repo(git_repo, monkeypatch, tmp_path):
    git_repo.write({**FILES, "images.yaml": MANIFEST})
    os.chmod(git_repo.root / "base/rootfs/bin/tool", 0o755)
    git_repo.commit("first")
    monkeypatch.chdir(git_repo.root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GREETING", raising=False)
    return git_repo


def changed(repo, since="HEAD~1", manifest="images.yaml"):
    graph = build_graph(load_manifest(repo.root / manifest))

    def load_previous(path, git):
        return build_graph(load_manifest(path, git=git))

    return changed_since(graph, since, load_previous)


@pytest.mark.parametrize("files, expected", [
    ({"a/app.txt": "a, changed\n"}, ["a", "a-child"]),
    ({"a/new.txt": "new\n"}, ["a", "a-child"]),
    ({"base/Dockerfile": "FROM scratch\nCOPY rootfs /\nENV X=1\n"}, ["base", "a", "b", "a-child"]),
    ({"base/rootfs/etc/release": None}, ["base", "a", "b", "a-child"]),
    ({"b/Dockerfile": "FROM acme/base\nARG GREETING\nRUN echo $GREETING!\n"}, ["b"]),
    ({"c/c.txt": "c2\n"}, ["c"]),
    ({"a-child/Dockerfile": "FROM acme/a\nENV Y=2\n"}, ["a-child"]),
    # not sent to the engine, or outside every context: nothing changed
    ({"a/debug.log": "noise\n"}, []),
    ({"README.md": "more words\n"}, []),
    # an arg in the manifest
    ({"images.yaml": MANIFEST.replace("${GREETING:-hello}", "${GREETING:-bonjour}")}, ["b"]),
    # tags are not inputs (nor is the commit, named in c's tags)
    ({"images.yaml": MANIFEST.replace('tags: ["${GIT_SHORT_SHA}"]', "tags: [x, y]")}, []),
])
def test_changed_images_and_their_descendants(repo, files, expected):
    repo.commit("second", files)
    result = changed(repo)
    assert list(result.changed) == expected
    assert result.removed == ()
    assert result.commit == repo.git("rev-parse", "HEAD~1")


def test_reasons(repo):
    repo.commit("second", {"a/app.txt": "x\n", "b/Dockerfile": "FROM acme/base\nENV Z=1\n"})
    assert changed(repo).reasons == {"a": "files changed: app.txt", "b": "Dockerfile changed",
                                     "a-child": "parent 'a' changed"}


def test_the_work_tree_is_compared_not_head(repo):
    repo.commit("second", {"README.md": "x\n"})
    (repo.root / "c" / "c.txt").write_text("uncommitted\n")
    assert list(changed(repo).changed) == ["c"]
    assert list(changed(repo, "HEAD").changed) == ["c"]


def test_new_and_removed_images(repo):
    text = MANIFEST.replace("  b: {context: b, repository: acme/b, args: {GREETING: \"${GREETING:-hello}\"}}\n", "")
    text += "  d: {context: c, repository: acme/d}\n"
    repo.commit("second", {"images.yaml": text})
    result = changed(repo)
    assert list(result.changed) == ["d"]
    assert result.reasons["d"] == "new image"
    assert list(result.removed) == ["b"]


def test_nothing_in_the_repository_changes(repo):
    repo.commit("second", {"a/app.txt": "x\n"})
    (repo.root / "c" / "c.txt").write_text("uncommitted\n")
    before = (repo.git("status", "--porcelain"), repo.git("rev-parse", "HEAD"), repo.git("stash", "list"),
              (repo.root / ".git" / "index").read_bytes(), sorted(os.listdir(repo.root / ".git")))
    changed(repo)
    after = (repo.git("status", "--porcelain"), repo.git("rev-parse", "HEAD"), repo.git("stash", "list"),
             (repo.root / ".git" / "index").read_bytes(), sorted(os.listdir(repo.root / ".git")))
    assert before == after
    assert repo.git("worktree", "list").count("\n") == 0


def test_manifest_in_a_subfolder(git_repo, monkeypatch, tmp_path):
    git_repo.write({f"images/{k}": v for k, v in FILES.items()})
    git_repo.write({"images/images.yaml": MANIFEST, "other/big.txt": "x" * 1000})
    git_repo.commit("first")
    git_repo.commit("second", {"images/base/rootfs/etc/release": "2\n", "other/big.txt": "y"})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert list(changed(git_repo, manifest="images/images.yaml").changed) == ["base", "a", "b", "a-child"]


def test_a_broken_manifest_at_the_revision(repo):
    repo.commit("second", {"images.yaml": "version: 1\nimages: {base: {context: nowhere}}\n"})
    repo.commit("third", {"images.yaml": MANIFEST})
    result = changed(repo)
    assert list(result.changed) == ["base", "c", "a", "b", "a-child"]
    assert "the manifest at HEAD~1 has 1 problem" in result.note
    assert "every image counts as changed" in result.note
    result = changed(repo, repo.git("rev-list", "--max-parents=0", "HEAD"))
    assert result.changed == () and result.note == ""


def test_manifest_absent_at_the_revision(git_repo, monkeypatch, tmp_path):
    git_repo.commit("empty", {"README.md": "x\n"})
    git_repo.commit("images", {**FILES, "images.yaml": MANIFEST})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = changed(git_repo)
    assert set(result.changed) == {"base", "a", "b", "a-child", "c"}
    assert result.note == "images.yaml does not exist at HEAD~1: every image is new"


# -- the command ------------------------------------------------------------------------------------

def test_cli_names_json_and_selectors(repo, capsys):
    repo.commit("second", {"base/rootfs/etc/release": "2\n", "c/c.txt": "c2\n"})
    assert main(["changed", "--since", "HEAD~1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["base", "c", "a", "b", "a-child"]
    assert "5 of 5 images changed since HEAD~1" in captured.err

    assert main(["changed", "--since", "HEAD~1", "--json", "a+", "c"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"version": 1, "since": "HEAD~1", "commit": repo.git("rev-parse", "HEAD~1"),
                    "changed": ["c", "a", "a-child"], "removed": [],
                    "reasons": {"c": "files changed: c.txt", "a": "parent 'base' changed",
                                "a-child": "parent 'a' changed"}}


@pytest.mark.parametrize("argv, message", [
    (["changed", "--since", "no-such-rev"], "images: changed --since no-such-rev: unknown revision 'no-such-rev'"),
    (["changed", "--since", "HEAD~1", "nosuch"], "images: no image or group matches 'nosuch'"),
    (["changed"], "the following arguments are required: --since"),
])
def test_cli_errors(repo, capsys, argv, message):
    try:
        code = main(argv)
    except SystemExit as exc:      # argparse's own usage errors
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_outside_git(tmp_path, monkeypatch, capsys):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "images.yaml").write_text("version: 1\nimages: {app: {context: app}}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["changed", "--since", "HEAD~1"]) == 2
    assert "the manifest is not in a git work tree" in capsys.readouterr().err


def test_plan_json_lists_the_image_names_for_a_ci_matrix(repo, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["plan", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["images"] == ["base", "c", "a", "b", "a-child"] == [s["name"] for s in data["steps"]]
