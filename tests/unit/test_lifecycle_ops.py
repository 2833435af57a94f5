"""The lifecycle operations (builder.run.lifecycle) against a small fake engine: which builds are
superseded, what prune keeps, how push puts tags back, when rm refuses, how save writes."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional

import pytest

from builder.engine.http import HTTPError
from builder.errors import EngineError, UsageError
from builder.manifest.model import ImageSpec, Manifest
from builder.plan.state import KEY_LABEL, NAME_LABEL, PROJECT_LABEL, EngineState, project_id
from builder.run.lifecycle import (MISSING, STALE, UP_TO_DATE, NotBuilt, add_tag, bases_to_pull,
                                   find_old_builds, list_rows, prune, push_image, remove_images,
                                   save_images)

ROOT = Path("/project")


def manifest(registry: Optional[str] = None) -> Manifest:
    images = {
        "base": ImageSpec("base", ROOT / "base", repository="acme/base", tags=("latest", "1.0")),
        "child": ImageSpec("child", ROOT / "child", repository="acme/child"),
    }
    return Manifest(ROOT / "images.yaml", "images.yaml", 1, registry, {}, images,
                    {"default": ("base", "child")})


PID = project_id(ROOT / "images.yaml")


def labels(name: str, key: str = "k", project: str = PID) -> Dict[str, str]:
    return {PROJECT_LABEL: project, NAME_LABEL: name, KEY_LABEL: key}


def entry(image_id: str, *, tags=(), parent: str = "", size: int = 100, created: int = 0,
          lab: Optional[Dict[str, str]] = None) -> dict:
    return {"Id": image_id, "RepoTags": list(tags) or None, "ParentId": parent, "Size": size,
            "Created": created, "Labels": lab or {}, "RepoDigests": None}


class FakeEngine:
    """Images by ID with tags; removal cascades to bare parents, as the engine's does."""

    def __init__(self, entries: List[dict], containers: Optional[Dict[str, List[str]]] = None):
        self.images = {e["Id"]: dict(e, RepoTags=list(e["RepoTags"] or [])) for e in entries}
        self.containers = containers or {}
        self.calls: List[tuple] = []
        self.push_error: Optional[Exception] = None

    def _find(self, ref: str) -> Optional[str]:
        if ref in self.images:
            return ref
        full = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
        for image_id, e in self.images.items():
            if full in e["RepoTags"]:
                return image_id
        return None

    def inspect_image(self, ref: str):
        image_id = self._find(ref)
        return dict(self.images[image_id]) if image_id else None

    def list_images(self, label=None, all=False):
        return [dict(e) for e in self.images.values()]

    def tag(self, image_id: str, ref: str) -> None:
        self.calls.append(("tag", image_id, ref))
        for e in self.images.values():
            if ref in e["RepoTags"]:
                e["RepoTags"].remove(ref)
        self.images[image_id]["RepoTags"].append(ref)

    def untag(self, ref: str):
        return self.remove_image(ref)

    def remove_image(self, ref: str, force: bool = False):
        self.calls.append(("rm", ref, force))
        image_id = self._find(ref)
        if image_id is None:
            raise EngineError(f"cannot remove image {ref}: no such image")
        e = self.images[image_id]
        records = []
        if ref != image_id:
            e["RepoTags"].remove(ref)
            records.append({"Untagged": ref})
            if e["RepoTags"]:
                return records
        elif len(e["RepoTags"]) > 1 and not force:
            raise EngineError(f"cannot remove image {ref}: must be forced")
        if self.containers.get(image_id) and not force:
            raise EngineError(f"cannot remove image {ref}: it is used by container x")
        if any(other["ParentId"] == image_id for other in self.images.values()):
            cause = HTTPError("DELETE", "/images/x", 409, "Conflict", "image has dependent child images")
            raise EngineError(f"cannot remove image {ref}: conflict") from cause
        while image_id:
            parent = self.images[image_id]["ParentId"]
            del self.images[image_id]
            records.append({"Deleted": image_id})
            if (not parent or parent not in self.images or self.images[parent]["RepoTags"]
                    or any(o["ParentId"] == parent for o in self.images.values())):
                break
            image_id = parent
        return records

    def containers_using(self, image_id: str) -> List[str]:
        return list(self.containers.get(image_id, []))

    def push(self, ref: str, on_progress=None):
        self.calls.append(("push", ref, self.inspect_image(ref)["Id"]))
        if self.push_error:
            raise self.push_error
        if on_progress:
            on_progress({"status": "Pushed", "id": "layer1"})
        return "sha256:digest"

    def save(self, references, fileobj) -> None:
        fileobj.write(b"tar:" + ",".join(references).encode())


def engine_tree() -> List[dict]:
    """base B and child C current; O an old child build; OC an old child on the old base OB,
    which is hidden (an image is built on it); I*, OI: intermediate images of child builds,
    which inherit the base's labels."""
    return [
        entry("B", tags=["acme/base:latest", "acme/base:1.0"], size=100, created=10, lab=labels("base", "kb")),
        entry("I1", parent="B", size=100, created=20, lab=labels("base", "kb")),
        entry("C", tags=["acme/child:latest"], parent="I1", size=130, created=21, lab=labels("child", "kc")),
        entry("I0", parent="B", size=120, created=5, lab=labels("base", "kb")),
        entry("O", parent="I0", size=120, created=6, lab=labels("child", "kc-old")),
        entry("OB", size=90, created=1, lab=labels("base", "kb-old")),
        entry("OI", parent="OB", size=95, created=2, lab=labels("base", "kb-old")),
        entry("OC", parent="OI", size=95, created=3, lab=labels("child", "kc-older")),
        entry("X", size=50, created=4, lab=labels("child", "kx", project="another-project")),
        entry("D", size=7, created=4),  # somebody's dangling image
    ]


def test_superseded_builds_are_the_project_leaves_without_a_current_tag():
    found = find_old_builds(engine_tree(), manifest())
    assert [b.image_id for b in found.removable] == ["O", "OC"]    # deepest, then newest first
    assert found.kept == ()
    assert set(found.deleted) == {"O", "I0", "OC", "OI", "OB"}     # bare parents go with them
    # own sizes: O 0 + I0 20 + OC 0 + OI 5 + OB 90
    assert found.reclaimable == 115
    assert {b.name for b in found.removable} == {"child"}


def test_selection_limits_superseded_builds_by_name():
    assert find_old_builds(engine_tree(), manifest(), names=["base"]).removable == ()


def test_an_image_built_on_an_old_build_keeps_it():
    tree = engine_tree() + [entry("F", tags=["someone/else:1"], parent="O", size=130, created=30)]
    found = find_old_builds(tree, manifest())
    assert [b.image_id for b in found.removable] == ["OC"]
    assert not {"O", "I0"} & set(found.deleted)
    tree += [entry("V", tags=["acme/base:0.9"], size=100, created=9, lab=labels("base", "kv")),
             entry("G", tags=["someone/else:2"], parent="V", size=130, created=31)]
    found = find_old_builds(tree, manifest())
    assert [(b.image_id, why) for b, why in found.kept] == [("V", "an image that stays is built on it")]


def test_a_build_with_a_tag_the_manifest_no_longer_has_is_superseded():
    tree = engine_tree() + [entry("V", tags=["acme/base:0.9"], size=100, created=9, lab=labels("base", "kv"))]
    found = find_old_builds(tree, manifest())
    assert [(b.image_id, b.tags) for b in found.removable if b.image_id == "V"] == [("V", ("acme/base:0.9",))]


def test_a_build_a_container_uses_is_kept():
    found = find_old_builds(engine_tree(), manifest(), in_use={"O": "container web"})
    assert [b.image_id for b in found.removable] == ["OC"]
    assert [(b.image_id, why) for b, why in found.kept] == [("O", "in use by container web")]


def test_pushed_names_count_as_current():
    tree = engine_tree() + [entry("P", tags=["registry.local/acme/child:latest"], size=1, created=50,
                                  lab=labels("child", "kp"))]
    found = find_old_builds(tree, manifest(registry="registry.local"))
    assert "P" not in [b.image_id for b in found.removable]


def test_prune_dry_run_removes_nothing_and_real_run_removes_children_first():
    engine = FakeEngine(engine_tree())
    result = prune(engine, manifest(), dry_run=True)
    assert [b.image_id for b in result.removed] == ["O", "OC"] and result.reclaimed == 115
    assert len(engine.images) == 10 and not [c for c in engine.calls if c[0] == "rm"]
    result = prune(engine, manifest())
    assert set(result.deleted) == {"O", "I0", "OC", "OI", "OB"}
    assert result.reclaimed == 115
    assert set(engine.images) == {"B", "I1", "C", "X", "D"}


def test_prune_keeps_an_image_when_the_engine_reports_a_conflict():
    tree = engine_tree()
    engine = FakeEngine(tree)
    engine.list_images = lambda label=None, all=False: tree   # listed before a child appeared:
    engine.images["late"] = dict(entry("late", parent="O"), RepoTags=["new/one:1"])
    result = prune(engine, manifest())
    assert [(b.image_id, why.startswith("in use")) for b, why in result.kept] == [("O", True)]
    assert "O" in engine.images and "OC" not in engine.images


def test_prune_untags_a_superseded_build_before_removing_it():
    tree = [entry("V", tags=["acme/base:0.9"], size=100, created=9, lab=labels("base", "kv"))]
    engine = FakeEngine(tree)
    result = prune(engine, manifest())
    assert result.untagged == ("acme/base:0.9",) and result.deleted == ("V",)


def test_list_rows_status():
    state = EngineState.from_engine_list([
        entry("B", tags=["acme/base:latest"], lab=labels("base", "kb")),
        entry("C", tags=["acme/child:latest"], lab=labels("child", "old-key")),
    ])
    rows = list_rows(manifest(), ["base", "child"], {"base": "kb", "child": "kc"}, state)
    assert [(r.repository, r.tag, r.image_id, r.status) for r in rows] == [
        ("acme/base", "latest", "B", UP_TO_DATE),
        ("acme/base", "1.0", None, MISSING),
        ("acme/child", "latest", "C", STALE),
    ]


def test_push_to_a_registry_prefix_tags_for_the_push_and_removes_the_tag_after():
    engine = FakeEngine(engine_tree())
    seen = []
    pushed = push_image(engine, manifest("localhost:5000/team"), manifest().images["base"], on_progress=seen.append)
    assert [(p.local, p.remote, p.image_id) for p in pushed] == [
        ("acme/base:latest", "localhost:5000/team/acme/base:latest", "B"),
        ("acme/base:1.0", "localhost:5000/team/acme/base:1.0", "B")]
    assert ("push", "localhost:5000/team/acme/base:latest", "B") in engine.calls
    assert engine.images["B"]["RepoTags"] == ["acme/base:latest", "acme/base:1.0"]
    assert seen == [{"status": "Pushed", "id": "layer1"}] * 2


def test_a_failed_push_puts_back_a_tag_that_pointed_elsewhere():
    engine = FakeEngine(engine_tree())
    engine.images["D"]["RepoTags"] = ["localhost:5000/acme/child:latest"]
    engine.push_error = EngineError("cannot push: connection refused")
    with pytest.raises(EngineError, match="connection refused"):
        push_image(engine, manifest("localhost:5000"), manifest().images["child"])
    assert engine.images["D"]["RepoTags"] == ["localhost:5000/acme/child:latest"]
    assert engine.images["C"]["RepoTags"] == ["acme/child:latest"]


def test_push_of_an_image_not_built_names_it_and_pushes_nothing():
    engine = FakeEngine([entry("B", tags=["acme/base:latest"])])
    with pytest.raises(NotBuilt) as caught:
        push_image(engine, manifest(), manifest().images["base"])
    assert str(caught.value) == ("'base' (no image at acme/base:1.0) has not been built; "
                                 "build it first: images build base")
    assert not [c for c in engine.calls if c[0] == "push"]


def test_rm_refuses_when_a_container_uses_an_image_and_removes_nothing():
    engine = FakeEngine(engine_tree(), containers={"C": ["web"]})
    with pytest.raises(EngineError) as caught:
        remove_images(engine, manifest(), ["base", "child"])
    assert "acme/child:latest: the image is used by container web" in str(caught.value)
    assert "nothing was removed" in str(caught.value)
    assert not [c for c in engine.calls if c[0] == "rm"]
    found, records = remove_images(engine, manifest(), ["child"], force=True)
    assert [r.reference for r in found] == ["acme/child:latest"]
    assert {"Untagged": "acme/child:latest"} in records and "C" not in engine.images


def test_rm_does_not_refuse_when_the_image_keeps_another_tag():
    engine = FakeEngine([entry("C", tags=["acme/child:latest", "mine:1"], lab=labels("child"))],
                        containers={"C": ["web"]})
    _found, records = remove_images(engine, manifest(), ["child"])
    assert records == [{"Untagged": "acme/child:latest"}] and "C" in engine.images


def test_tag_validates_and_needs_a_build():
    engine = FakeEngine(engine_tree())
    assert add_tag(engine, manifest().images["base"], "v1.2.3") == ("acme/base:v1.2.3", "B")
    with pytest.raises(UsageError, match="invalid tag 'bad/tag'"):
        add_tag(engine, manifest().images["base"], "bad/tag")
    with pytest.raises(NotBuilt, match="build it first: images build child"):
        add_tag(FakeEngine([]), manifest().images["child"], "v1")


def test_save_writes_atomically(tmp_path):
    target = tmp_path / "images.tar"
    assert save_images(FakeEngine([]), ["a:1", "b:2"], target) == len(b"tar:a:1,b:2")
    assert target.read_bytes() == b"tar:a:1,b:2"

    class Failing(FakeEngine):
        def save(self, references, fileobj):
            fileobj.write(b"half")
            raise EngineError("cannot save: engine went away")

    with pytest.raises(EngineError):
        save_images(Failing([]), ["a:1"], target)
    assert target.read_bytes() == b"tar:a:1,b:2"            # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["images.tar"]
    with pytest.raises(UsageError, match="no such directory"):
        save_images(FakeEngine([]), ["a:1"], tmp_path / "missing" / "x.tar")


def test_bases_to_pull_skips_scratch_and_repeats():
    graph = SimpleNamespace(external_bases={"a": ("scratch", "alpine:3.19"), "b": ("alpine:3.19", "SCRATCH"),
                                            "c": ("busybox@sha256:" + "0" * 64,)})
    assert bases_to_pull(graph, ["a", "b", "c"]) == ["alpine:3.19", "busybox@sha256:" + "0" * 64]


@pytest.mark.parametrize("argv, file, force", [
    (["-f", "x.yaml", "rm", "-f", "a"], "x.yaml", True),       # after `rm`, -f is --force, as with docker rmi
    (["rm", "--file", "y.yaml", "a"], "y.yaml", False),
    (["rm", "a", "--force"], "images.yaml", True),
])
def test_rm_takes_f_for_force_and_file_as_file(argv, file, force):
    from builder.cli import build_parser

    args = build_parser().parse_args(argv)
    assert (args.file, args.force, args.selectors) == (file, force, ["a"])


def test_lifecycle_commands_take_file_and_var_after_the_command():
    from builder.cli import build_parser

    args = build_parser().parse_args(["ls", "-a", "-f", "m.yaml", "--var", "X=1", "app-*"])
    assert (args.file, args.var, args.all, args.selectors) == ("m.yaml", ["X=1"], True, ["app-*"])
