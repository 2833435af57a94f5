"""The command line without an engine: options anywhere, --set, plan --json, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from builder.cli import main

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\nARG V\nCOPY . /\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "images.yaml").write_text(textwrap.dedent("""\
        version: 1
        variables: {V: from-file}
        images:
          app: {context: app, args: {V: "${V}"}, tags: ["${V}"]}
          app-extra: {context: app, tags: [extra]}
          lib: {context: lib}
        """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE["DOCKER_HOST"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def plan_json(capsys, *argv):
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    return {s["name"]: s for s in json.loads(captured.out)["steps"]}, captured.err


def test_plan_json_without_an_engine_says_what_it_cannot_know(project, capsys):
    steps, _err = plan_json(capsys, "plan", "--json")
    assert set(steps) == {"app", "app-extra", "lib"}
    assert {s["action"] for s in steps.values()} == {"build"}
    assert steps["app"]["reason"] == "no engine reachable: cannot tell whether an earlier build exists"
    assert steps["app"]["generation"] == 0 and steps["app"]["parents"] == []


@pytest.mark.parametrize("argv", [
    ["-f", "other.yaml", "--var", "V=cli", "plan", "--json", "app"],
    ["plan", "-f", "other.yaml", "--var", "V=cli", "--json", "app"],
    ["--var", "V=cli", "plan", "--json", "app", "--file", "other.yaml"],
])
def test_file_and_var_before_or_after_the_command(project, capsys, argv):
    (project / "images.yaml").rename(project / "other.yaml")
    steps, _ = plan_json(capsys, *argv)
    assert steps["app"]["tags"] == ["app:cli"]


def test_var_beats_environment_beats_file(project, capsys, monkeypatch):
    steps, _ = plan_json(capsys, "plan", "--json", "app")
    assert steps["app"]["tags"] == ["app:from-file"]
    monkeypatch.setenv("V", "from-env")
    steps, _ = plan_json(capsys, "plan", "--json", "app")
    assert steps["app"]["tags"] == ["app:from-env"]
    steps, _ = plan_json(capsys, "plan", "--json", "app", "--var", "V=from-cli")
    assert steps["app"]["tags"] == ["app:from-cli"]


def test_set_overrides_with_globs_change_the_key(project, capsys):
    before, _ = plan_json(capsys, "plan", "--json")
    after, _ = plan_json(capsys, "plan", "--json", "--set", "app*.args.V=2", "--set", "lib.tags=a,b")
    assert after["lib"]["tags"] == ["lib:a", "lib:b"]
    assert after["app"]["cache_key"] != before["app"]["cache_key"]
    assert after["app-extra"]["cache_key"] != before["app-extra"]["cache_key"]
    assert after["lib"]["cache_key"] == before["lib"]["cache_key"]   # tags are not content


@pytest.mark.parametrize("override, message", [
    ("app.args", "images: --set 'app.args': expected IMAGE.KEY=VALUE, e.g. --set 'app-*.args.VERSION=2'"),
    ("nope.target=x", "images: --set 'nope.target=x': no image matches 'nope'"),
    ("app.context=x", "images: --set 'app.context=x': 'context' cannot be set; use args.NAME, labels.NAME, "
                      "tags, dockerfile, target, platform or pull"),
    ("app.tags=-bad", "images: --set 'app.tags=-bad': invalid tag '-bad': a tag is up to 128 letters, digits, "
                      "'_', '.' and '-', and cannot start with '.' or '-'"),
    ("app.pull=maybe", "images: --set 'app.pull=maybe': pull takes true or false"),
])
def test_bad_set_is_a_usage_error(project, capsys, override, message):
    assert main(["plan", "--set", override]) == 2
    assert capsys.readouterr().err.strip() == message


def test_unknown_selector_and_bad_var_exit_2(project, capsys):
    assert main(["plan", "ap"]) == 2
    assert "no image or group matches 'ap' (did you mean 'app'?)" in capsys.readouterr().err
    assert main(["plan", "--var", "novalue"]) == 2
    assert "--var 'novalue': expected NAME=VALUE" in capsys.readouterr().err


def test_invalid_manifest_exits_2_with_positions(project, capsys):
    (project / "images.yaml").write_text("version: 1\nimages:\n  app: {context: app, tgas: [x]}\n")
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "images.yaml:3:23: images.app.tgas: unknown key 'tgas' (did you mean 'tags'?)" in err


def test_build_without_engine_exits_3(project, capsys):
    assert main(["build"]) == 3
    assert "unix:///nonexistent/docker.sock" in capsys.readouterr().err


def test_help_is_instant_and_imports_nothing_heavy():
    code = ("import sys; from builder.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('docker', 'networkx', 'jsonschema', 'yaml', 'requests') if m in sys.modules]\n"
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_schema_command_prints_the_shipped_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "images" in schema["properties"] and schema["properties"]["version"]


def test_graph_selection_limits_nodes(project, capsys):
    assert main(["graph", "--format", "json", "lib"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [n["name"] for n in data["nodes"]] == ["lib"] and data["edges"] == []


def test_builder_option(capsys):
    from builder.cli import build_parser

    assert build_parser().parse_args(["build"]).builder == "auto"
    assert build_parser().parse_args(["build", "--builder", "classic"]).builder == "classic"
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["build", "--builder", "kaniko"])
    assert exited.value.code == 2
    assert "invalid choice: 'kaniko' (choose from 'auto', 'buildkit', 'classic')" in capsys.readouterr().err
