"""Git values for templates (${GIT_SHA}...), `semver:` in the manifest, and provenance labels."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.errors import ManifestError
from builder.manifest import load_manifest
from builder.manifest.gitvalues import GitValues, strip_credentials
from builder.plan.graph import build_graph
from builder.plan.plan import make_plan
from builder.plan.state import KEY_LABEL
from builder.run.build import build_labels, provenance_labels

TEMPLATE = "${GIT_SHA}|${GIT_SHORT_SHA}|${GIT_BRANCH}|${GIT_TAG}|${GIT_DIRTY}|${DATE}"


def manifest_text(args: str = "", tags: str = "", semver: str = "", labels: str = "") -> str:
    lines = ["version: 1", "images:", "  app:", "    context: app", "    repository: acme/app"]
    if tags:
        lines.append(f"    tags: {tags}")
    if semver:
        lines.append(f"    semver: {semver}")
    if args:
        lines.append(f"    args: {args}")
    if labels:
        lines.append(f"    labels: {labels}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(git_repo):
    git_repo.write({"app/Dockerfile": "FROM scratch\nCOPY hello /hello\n", "app/hello": "hi\n",
                    "images.yaml": manifest_text(args=f'{{ALL: "{TEMPLATE}"}}')})
    git_repo.commit("one")
    return git_repo


def load(repo, environ=None, variables=None, text=None):
    if text is not None:
        (repo.root / "images.yaml").write_text(text)
    return load_manifest(repo.root / "images.yaml", variables=variables, environ=environ or {})


def values(manifest):
    return manifest.images["app"].args["ALL"].split("|")


def test_values_on_a_branch(project):
    sha = project.git("rev-parse", "HEAD")
    env = {"SOURCE_DATE_EPOCH": "1700000000"}   # 2023-11-14 22:13:20 UTC
    assert values(load(project, env)) == [sha, sha[:7], "main", "", "", "20231114"]


def test_tag_at_head_highest_semver_and_annotated_tags(project):
    project.tag("v1.2.0")
    project.tag("v1.10.0", annotated=True)
    project.tag("v2.0.0-rc.1")
    project.tag("nightly")
    project.commit("two")
    project.tag("v9.0.0")           # not at HEAD~0 once we go back
    project.git("checkout", "-q", "HEAD~1")
    assert values(load(project))[3] == "v2.0.0-rc.1"
    project.tag("v2.0.0")
    assert values(load(project))[3] == "v2.0.0"


def test_tag_without_semantic_versions_is_the_last_by_name(project):
    project.tag("alpha")
    project.tag("beta")
    assert values(load(project))[3] == "beta"


def test_detached_head_branch_is_empty_or_what_ci_says(project):
    project.git("checkout", "-q", "--detach")
    assert values(load(project))[2] == ""
    assert values(load(project, {"GITHUB_REF_NAME": "feature-x", "GITHUB_REF_TYPE": "branch"}))[2] == "feature-x"
    # a tag build's ref name is a tag, not a branch
    assert values(load(project, {"GITHUB_REF_NAME": "v1.0.0", "GITHUB_REF_TYPE": "tag"}))[2] == ""
    assert values(load(project, {"GITHUB_REF_NAME": "7/merge", "GITHUB_HEAD_REF": "fix-y"}))[2] == "fix-y"
    assert values(load(project, {"CI_COMMIT_REF_NAME": "develop"}))[2] == "develop"
    assert values(load(project, {"CI_COMMIT_REF_NAME": "v1.0.0", "CI_COMMIT_TAG": "v1.0.0"}))[2] == ""


def test_dirty_counts_tracked_changes_only(project):
    (project.root / "untracked.txt").write_text("new")
    assert values(load(project))[4] == ""
    (project.root / "app" / "hello").write_text("changed\n")
    assert values(load(project))[4] == "dirty"
    project.git("add", "app/hello")      # staged is still dirty
    assert values(load(project))[4] == "dirty"


def test_variables_environment_and_var_override_git_values(project):
    text = "variables: {GIT_BRANCH: from-file}\n" + manifest_text(args='{B: "${GIT_BRANCH}", S: "${GIT_SHA}"}')
    assert load(project, text=text).images["app"].args["B"] == "from-file"
    assert load(project, {"GIT_BRANCH": "from-env"}).images["app"].args["B"] == "from-env"
    manifest = load(project, {"GIT_BRANCH": "from-env"}, {"GIT_BRANCH": "from-var", "GIT_SHA": "abc"})
    assert dict(manifest.images["app"].args) == {"B": "from-var", "S": "abc"}


def test_outside_a_work_tree_a_reference_is_an_error_at_its_place(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "images.yaml").write_text(manifest_text(tags='["${GIT_SHORT_SHA}"]', args='{D: "${DATE}"}'))
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "images.yaml", environ={}, cwd=tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'images.yaml'}:6:12: images.app.tags[0]: '${{GIT_SHORT_SHA}}' needs git: the manifest is "
        "not in a git work tree (or set GIT_SHORT_SHA with --var GIT_SHORT_SHA=...)"]
    # a default, or a value given another way, needs no git; nor does ${DATE}
    (tmp_path / "images.yaml").write_text(manifest_text(tags='["${GIT_SHORT_SHA:-local}", "d${DATE}"]'))
    assert load_manifest(tmp_path / "images.yaml", environ={}).images["app"].tags[0] == "local"
    manifest = load_manifest(tmp_path / "images.yaml", environ={"GIT_SHORT_SHA": "abc1234"})
    assert manifest.images["app"].tags[0] == "abc1234"


def test_a_repository_without_commits(git_repo):
    git_repo.write({"app/Dockerfile": "FROM scratch\n", "images.yaml": manifest_text(tags='["${GIT_SHA}"]')})
    with pytest.raises(ManifestError, match="the git repository has no commit yet"):
        load(git_repo)


def test_git_runs_only_when_a_value_is_named(project, monkeypatch):
    calls = []
    real = subprocess.run

    def counting(command, *args, **kwargs):
        calls.append(command)
        return real(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting)
    load(project, text=manifest_text(args='{A: "${NOT_GIT:-x}"}', tags='["${DATE}"]'))
    assert calls == []
    load(project, text=manifest_text(tags='["${GIT_SHORT_SHA}", "${GIT_BRANCH}"]', args='{S: "${GIT_SHA}"}'))
    assert len(calls) == 1
    calls.clear()
    load(project, text=manifest_text(tags='["${GIT_SHORT_SHA}"]', semver='"${GIT_TAG}"'))
    assert len(calls) == 2


def test_undefined_variable_hint_names_the_git_values(project):
    with pytest.raises(ManifestError, match=r"undefined variable 'GIT_SHAA' \(did you mean 'GIT_SHA'\?\)"):
        load(project, text=manifest_text(tags='["${GIT_SHAA}"]'))


# -- semver: in the manifest ----------------------------------------------------------------------

def tags_at(repo, text):
    return list(load(repo, text=text).images["app"].tags)


def test_semver_adds_tags_after_the_declared_ones(project):
    project.tag("v1.3.9", annotated=True)
    project.commit("two")
    project.tag("v1.4.0")
    text = manifest_text(tags='["${GIT_SHORT_SHA}", latest, "1.4"]', semver='"${GIT_TAG}"')
    sha = project.git("rev-parse", "--short=7", "HEAD")
    assert tags_at(project, text) == [sha, "latest", "1.4", "1.4.0", "1"]
    assert load(project, text=text).images["app"].version == "1.4.0"
    project.git("checkout", "-q", "v1.3.9")
    assert tags_at(project, manifest_text(semver='"${GIT_TAG}"')) == ["1.3.9", "1.3"]
    project.tag("v2.0.0-rc.1")
    assert tags_at(project, manifest_text(semver='"${GIT_TAG}"')) == ["2.0.0-rc.1"]


def test_semver_empty_adds_nothing_and_needs_other_tags(project):
    assert tags_at(project, manifest_text(tags="[edge]", semver='"${GIT_TAG}"')) == ["edge"]
    assert load(project, text=manifest_text(tags="[edge]", semver='"${GIT_TAG}"')).images["app"].version is None
    with pytest.raises(ManifestError) as caught:
        load(project, text=manifest_text(semver='"${GIT_TAG}"'))
    assert [p.path for p in caught.value.problems] == ["images.app.semver"]
    assert "no tags: semver: is empty here" in caught.value.problems[0].message


@pytest.mark.parametrize("value, message", [
    ('"1.2"', "images.yaml:7:13: images.app.semver: invalid semver '1.2': expected MAJOR.MINOR.PATCH, "
              "optionally with a leading 'v', a -PRERELEASE and a +BUILD, e.g. v1.2.3 or 2.0.0-rc.1"),
    ('"${TAG}"', "images.yaml:7:13: images.app.semver: invalid semver 'release-1': expected MAJOR.MINOR.PATCH, "
                 "optionally with a leading 'v', a -PRERELEASE and a +BUILD, e.g. v1.2.3 or 2.0.0-rc.1"),
    ("1.5", "images.yaml:7:13: images.app.semver: expected a string, got a number (1.5)"),
])
def test_semver_errors(project, value, message):
    (project.root / "images.yaml").write_text(manifest_text(tags="[x]", semver=value))
    with pytest.raises(ManifestError) as caught:
        load_manifest("images.yaml", environ={"TAG": "release-1"}, cwd=project.root)
    assert [str(p) for p in caught.value.problems] == [message]


def test_semver_release_outside_git_is_an_error_but_a_pre_release_is_not(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "images.yaml").write_text(manifest_text(semver='"${V}"'))
    with pytest.raises(ManifestError, match="semver '1.2.3' needs the repository's git tags to tell whether it is "
                                            "the highest release: the manifest is not in a git work tree"):
        load_manifest(tmp_path / "images.yaml", environ={"V": "1.2.3"})
    manifest = load_manifest(tmp_path / "images.yaml", environ={"V": "1.2.3-rc.1"})
    assert manifest.images["app"].tags == ("1.2.3-rc.1",)


def test_semver_in_defaults_and_the_schema_describes_it(project):
    from builder.manifest.schema import load_schema

    project.tag("v0.3.0")
    text = "defaults: {semver: \"${GIT_TAG}\"}\n" + manifest_text(tags="[dev]")
    assert tags_at(project, text) == ["dev", "0.3.0", "0.3", "0", "latest"]
    schema = load_schema()
    assert schema["$defs"]["image"]["properties"]["semver"] == {"$ref": "#/$defs/semver"}
    assert "highest" in schema["$defs"]["semver"]["description"]


# -- provenance labels -----------------------------------------------------------------------------

@pytest.mark.parametrize("url, stripped", [
    ("https://user:secret@example.com/acme/app.git", "https://example.com/acme/app.git"),
    ("https://token@example.com/acme/app.git", "https://example.com/acme/app.git"),
    ("https://gitlab-ci-token:abc@gitlab.example.com:8443/g/p.git", "https://gitlab.example.com:8443/g/p.git"),
    ("ssh://git@example.com/acme/app.git", "ssh://example.com/acme/app.git"),
    ("git@example.com:acme/app.git", "git@example.com:acme/app.git"),
    ("https://example.com/a@b/app.git", "https://example.com/a@b/app.git"),
    ("/srv/git/app.git", "/srv/git/app.git"),
])
def test_strip_credentials(url, stripped):
    assert strip_credentials(url) == stripped


def plan_step(manifest):
    graph = build_graph(manifest)
    return make_plan(graph, list(manifest.images), state=None).steps[0]


def test_provenance_labels_and_a_user_label_wins(project):
    project.git("remote", "add", "origin", "https://ci:s3cret@example.com/acme/app.git")
    project.tag("v1.0.0")
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    manifest = load(project, env, text=manifest_text(tags="[edge]", semver='"${GIT_TAG}"'))
    image = manifest.images["app"]
    assert provenance_labels(manifest, image) == {
        "org.opencontainers.image.revision": project.git("rev-parse", "HEAD"),
        "org.opencontainers.image.source": "https://example.com/acme/app.git",
        "org.opencontainers.image.version": "1.0.0",
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
    }
    text = manifest_text(tags="[edge, other]", labels="{org.opencontainers.image.source: https://x.example/y}")
    manifest = load(project, env, text=text)
    labels = build_labels(manifest, manifest.images["app"], plan_step(manifest))
    assert labels["org.opencontainers.image.source"] == "https://x.example/y"
    assert labels["org.opencontainers.image.version"] == "edge"        # no semver: the first tag
    assert labels[KEY_LABEL] == plan_step(manifest).cache_key
    # --var GIT_SHA (a build from an exported tree) sets the revision label too
    manifest = load(project, env, {"GIT_SHA": "0123abc"}, text=manifest_text())
    assert provenance_labels(manifest, manifest.images["app"])["org.opencontainers.image.revision"] == "0123abc"


def test_provenance_outside_git_has_no_revision_or_source(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "images.yaml").write_text(manifest_text())
    manifest = load_manifest(tmp_path / "images.yaml", environ={})
    labels = provenance_labels(manifest, manifest.images["app"])
    assert sorted(labels) == ["org.opencontainers.image.created", "org.opencontainers.image.version"]


def test_provenance_and_git_values_in_tags_stay_out_of_the_cache_key(project):
    text = manifest_text(tags='["${GIT_SHORT_SHA}"]', semver='"${GIT_TAG}"')
    before = plan_step(load(project, {"SOURCE_DATE_EPOCH": "1"}, text=text))
    project.commit("docs only", {"README.md": "words\n"})
    project.tag("v3.1.4")
    project.git("remote", "add", "origin", "https://example.com/elsewhere.git")
    after = plan_step(load(project, {"SOURCE_DATE_EPOCH": "2"}, text=text))
    assert before.references != after.references
    assert before.cache_key == after.cache_key


def test_git_values_of_another_commit(project):
    first = project.git("rev-parse", "HEAD")
    project.tag("v1.0.0")
    project.commit("two", {"app/hello": "changed\n"})
    (project.root / "app" / "hello").write_text("dirty\n")
    old = GitValues(project.root, {}, commit=first)
    assert [old.value(n) for n in ("GIT_SHA", "GIT_BRANCH", "GIT_TAG", "GIT_DIRTY")] == \
        [first, "main", "v1.0.0", ""]
    now = GitValues(project.root, {})
    assert now.value("GIT_TAG") == "" and now.value("GIT_DIRTY") == "dirty"
    assert Path(now.toplevel()) == project.root.resolve()
