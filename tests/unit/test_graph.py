"""Graph building, selection and planning, on fixture trees, without an engine."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from builder.cli import main
from builder.errors import ManifestError, UsageError
from builder.manifest import load_manifest
from builder.plan.graph import build_graph
from builder.plan.plan import make_plan
from builder.plan.select import resolve, with_ancestors
from builder.plan.state import INPUTS_LABEL, KEY_LABEL, EngineState

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def graph_json(capsys, manifest: Path) -> dict:
    assert main(["graph", "--format", "json", "-f", str(manifest)]) == 0
    return json.loads(capsys.readouterr().out)


def test_three_level_graph_has_exactly_the_right_edges(capsys):
    data = graph_json(capsys, FIXTURES / "three_level" / "images.yaml")
    edges = sorted((e["from"], e["to"], e["via"]) for e in data["edges"])
    assert edges == [
        ("base", "mid", "FROM"),              # ${REGISTRY}/acme/base:${BASE_TAG}, manifest arg wins
        ("base", "tools", "FROM"),            # --platform flag skipped, `acme/base` means :latest
        ("mid", "app", "FROM"),
        ("mid", "worker", "depends_on"),
        ("tools", "app", "RUN --mount"),
        ("tools", "mid", "COPY --from"),      # a sibling image, over a line continuation
    ]
    nodes = {n["name"]: n for n in data["nodes"]}
    assert data["version"] == 1
    assert nodes["app"]["external_bases"] == ["alpine:3.19"]       # stage names and indexes are not images
    assert nodes["worker"]["external_bases"] == [
        "busybox@sha256:" + "0" * 64, "acme/base:2.0"]             # a digest or another tag is external
    assert nodes["base"]["tags"] == ["latest", "1.0"]
    assert nodes["app"]["repository"] == "localhost:5000/acme/app"


def test_dot_and_mermaid_name_every_edge(capsys):
    manifest = str(FIXTURES / "three_level" / "images.yaml")
    assert main(["graph", "-f", manifest]) == 0
    dot = capsys.readouterr().out
    assert '"base" -> "mid";' in dot and '"tools" -> "mid" [label="COPY --from", style=dashed];' in dot
    assert main(["graph", "--format", "mermaid", "-f", manifest]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("graph LR") and mermaid.count("-->") + mermaid.count("-.->") == 6


def write_tree(root: Path, manifest: str, files: dict) -> Path:
    (root / "images.yaml").write_text(textwrap.dedent(manifest))
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "images.yaml"


def test_cycle_is_reported_as_a_full_path(tmp_path, capsys):
    path = write_tree(tmp_path, """\
        version: 1
        images:
          a:
            context: a
          b:
            context: b
        """, {"a/Dockerfile": "FROM b\n", "b/Dockerfile": "FROM a:latest\n"})
    assert main(["validate", "-f", str(path)]) == 2
    stderr = capsys.readouterr().err
    assert "images.yaml:3:3: images.a: dependency cycle: a -> b -> a" in stderr


def test_matrix_child_depends_on_matching_cell_only(tmp_path):
    path = write_tree(tmp_path, """\
        version: 1
        images:
          runtime:
            context: rt
            matrix: {python: ["3.11", "3.12"]}
            tags: ["py${matrix.python}"]
          app:
            context: app
            depends_on: [runtime]
            matrix: {python: ["3.11", "3.12"], flavor: [slim, full]}
        """, {"rt/Dockerfile": "FROM scratch\n", "app/Dockerfile": "FROM scratch\n"})
    graph = build_graph(load_manifest(path))
    assert graph.parents("app-3.11-slim") == ["runtime-3.11"]
    assert graph.parents("app-3.12-full") == ["runtime-3.12"]


def test_matrix_cell_from_line_names_its_own_parent_cell(tmp_path):
    path = write_tree(tmp_path, """\
        version: 1
        images:
          runtime:
            context: rt
            matrix: {python: ["3.11", "3.12"]}
            tags: ["py${matrix.python}"]
          app:
            context: app
            matrix: {python: ["3.11", "3.12"]}
            args: {PY: "${matrix.python}"}
        """, {"rt/Dockerfile": "FROM scratch\n", "app/Dockerfile": "ARG PY\nFROM runtime:py${PY}\n"})
    graph = build_graph(load_manifest(path))
    assert graph.parents("app-3.11") == ["runtime-3.11"]
    assert graph.parents("app-3.12") == ["runtime-3.12"]


@pytest.fixture
def chain(tmp_path):
    path = write_tree(tmp_path, """\
        version: 1
        images:
          base: {context: base}
          mid1: {context: mid1}
          mid2: {context: mid2}
          leaf: {context: leaf}
          solo: {context: solo}
        groups:
          default: [leaf, solo]
          mids: [mid1, mid2]
        """, {"base/Dockerfile": "FROM scratch\n", "mid1/Dockerfile": "FROM base\n",
              "mid2/Dockerfile": "FROM base\n", "leaf/Dockerfile": "FROM mid1\nCOPY --from=mid2 / /\n",
              "solo/Dockerfile": "FROM scratch\n"})
    return build_graph(load_manifest(path))


@pytest.mark.parametrize("selectors, expected", [
    ([], ["leaf", "solo"]),
    (["mids"], ["mid1", "mid2"]),
    (["mid*"], ["mid1", "mid2"]),
    (["mid1+"], ["mid1", "leaf"]),
    (["base+"], ["base", "mid1", "mid2", "leaf"]),
    (["solo", "mid2"], ["mid2", "solo"]),
])
def test_selectors(chain, selectors, expected):
    assert resolve(chain, selectors) == [n for n in chain.manifest.images if n in expected]


def test_unknown_selector_suggests_a_name(chain):
    with pytest.raises(UsageError, match=r"no image or group matches 'sola' \(did you mean 'solo'\?\)"):
        resolve(chain, ["sola"])


def test_selection_brings_parents(chain):
    assert with_ancestors(chain, ["leaf"]) == ["base", "mid1", "mid2", "leaf"]


def test_plan_generations_and_parents(chain):
    plan = make_plan(chain, with_ancestors(chain, ["leaf", "solo"]), state=None, engine_note="no engine")
    gens = {s.name: (s.generation, s.parents, s.action) for s in plan.steps}
    assert gens == {"base": (0, (), "build"), "solo": (0, (), "build"), "mid1": (1, ("base",), "build"),
                    "mid2": (1, ("base",), "build"), "leaf": (2, ("mid1", "mid2"), "build")}
    assert plan.to_json()["steps"][0].keys() >= {"name", "action", "reason", "parents", "generation"}


def fake_state(plan, names, changed=()):
    entries = []
    for s in plan.steps:
        if s.name in names:
            entries.append({"Id": "sha256:" + s.name * 3, "RepoTags": [f"{s.name}:latest"],
                            "Labels": {KEY_LABEL: s.cache_key if s.name not in changed else "old",
                                       INPUTS_LABEL: json.dumps(s.inputs)}, "Created": 1})
    return EngineState.from_engine_list(entries, "fake")


def test_plan_cached_when_keys_exist_and_parent_change_propagates(chain, tmp_path):
    names = with_ancestors(chain, ["leaf", "solo"])
    first = make_plan(chain, names, state=None)
    state = fake_state(first, names)
    again = make_plan(chain, names, state=state)
    assert {s.action for s in again.steps} == {"cached"}
    (tmp_path / "mid1" / "new.txt").write_text("x")
    changed = make_plan(chain, names, state=state)
    actions = {s.name: (s.action, s.reason) for s in changed.steps}
    assert actions["mid1"][0] == "build" and actions["mid1"][1].startswith("context files changed")
    assert actions["leaf"] == ("build", "parent 'mid1' rebuilt")
    assert actions["base"][0] == actions["mid2"][0] == actions["solo"][0] == "cached"


def test_touching_a_file_does_not_change_the_key(chain, tmp_path):
    import os

    names = with_ancestors(chain, ["leaf"])
    before = {s.name: s.cache_key for s in make_plan(chain, names, state=None).steps}
    os.utime(tmp_path / "mid1" / "Dockerfile", (1, 1))
    after = {s.name: s.cache_key for s in make_plan(chain, names, state=None).steps}
    assert before == after


def test_cached_image_whose_tag_moved_is_retagged(chain):
    names = ["solo"]
    first = make_plan(chain, names, state=None)
    key = first.steps[0].cache_key
    state = EngineState.from_engine_list([
        {"Id": "sha256:new", "RepoTags": [], "Labels": {KEY_LABEL: key}, "Created": 2},
        {"Id": "sha256:old", "RepoTags": ["solo:latest"], "Labels": {KEY_LABEL: "other"}, "Created": 1},
    ])
    step = make_plan(chain, names, state=state).steps[0]
    assert (step.action, step.retag, step.image_id) == ("cached", ("solo:latest",), "sha256:new")
