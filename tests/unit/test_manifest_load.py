"""Loading valid manifests: defaults, extends, variants, matrix, interpolation, the typed model."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from builder.errors import ManifestError
from builder.manifest import ImageSpec, Manifest, Pos, load_manifest
from builder.manifest.interpolate import Interpolator
from builder.manifest.schema import load_schema

CONTEXTS = ("base/Dockerfile", "app/Dockerfile", "app/Dockerfile-v2", "hello/Dockerfile", "hello/Dockerfile-v2")


def write_manifest_tree(root: Path, manifest: str, files=CONTEXTS) -> Path:
    """images.yaml (dedented) plus a Dockerfile for each path in ``files``, under ``root``."""
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM scratch\n")
    (root / "images.yaml").write_text(textwrap.dedent(manifest))
    return root / "images.yaml"


def load(root: Path, manifest: str, environ=None, variables=None, files=CONTEXTS) -> Manifest:
    write_manifest_tree(root, manifest, files)
    return load_manifest("images.yaml", variables=variables, environ=environ or {}, cwd=root)


def test_minimal_manifest_gets_defaults(tmp_path):
    m = load(tmp_path, """\
        version: 1
        images:
          base:
            context: base
        """)
    assert m.version == 1
    assert m.registry is None
    assert m.display_path == "images.yaml"
    assert m.path == tmp_path / "images.yaml"
    base = m.images["base"]
    assert base == ImageSpec(
        name="base", context=(tmp_path / "base").resolve(), dockerfile="Dockerfile", repository="base",
        tags=("latest",), pos=Pos("images.yaml", 3, 3), path="images.base",
        key_pos={"context": Pos("images.yaml", 4, 14)}, key_path={"context": "images.base.context"})
    assert base.dockerfile_path == (tmp_path / "base" / "Dockerfile").resolve()
    assert base.references == ("base:latest",)
    assert m.groups == {"default": ("base",)}


def test_every_image_key(tmp_path):
    (tmp_path / "rootfs.tar").write_bytes(b"")
    m = load(tmp_path, """\
        version: 1
        registry: localhost:5000/acme
        images:
          rootfs:
            import: rootfs.tar
          base:
            context: base
            dockerfile: Dockerfile
            repository: acme/base
            tags: [latest, "1.0", 2.10, 7]
            args: {A: one, N: 3, F: 1.50, B: yes}
            labels: {org.opencontainers.image.title: Base}
            target: runtime
            platform: linux/amd64
            pull: true
            depends_on: [rootfs]
        """)
    base = m.images["base"]
    assert m.registry == "localhost:5000/acme"
    assert base.repository == "acme/base"
    # numbers keep the text they were written as
    assert base.tags == ("latest", "1.0", "2.10", "7")
    assert dict(base.args) == {"A": "one", "N": "3", "F": "1.50", "B": "yes"}
    assert dict(base.labels) == {"org.opencontainers.image.title": "Base"}
    assert (base.target, base.platform, base.pull, base.depends_on) == ("runtime", "linux/amd64", True, ("rootfs",))
    assert base.key_path["labels"] == "images.base.labels"
    rootfs = m.images["rootfs"]
    assert rootfs.is_import and rootfs.import_path == (tmp_path / "rootfs.tar").resolve()
    assert m.push_reference(base, "1.0") == "localhost:5000/acme/acme/base:1.0"
    assert list(m.images) == ["rootfs", "base"]


def test_defaults_merge_maps_key_by_key_and_replace_lists(tmp_path):
    m = load(tmp_path, """\
        version: 1
        defaults:
          labels: {vendor: acme, team: core}
          args: {A: "1"}
          tags: [stable]
          platform: linux/amd64
        images:
          base:
            context: base
            labels: {team: infra}
            tags: [edge]
          app:
            context: app
        """)
    base, app = m.images["base"], m.images["app"]
    assert dict(base.labels) == {"vendor": "acme", "team": "infra"}
    assert base.tags == ("edge",)
    assert dict(base.args) == {"A": "1"}
    assert base.platform == app.platform == "linux/amd64"
    assert app.tags == ("stable",)
    assert dict(app.labels) == {"vendor": "acme", "team": "core"}
    # an inherited setting is placed where it was written
    assert app.key_path["labels"] == "defaults.labels"
    assert app.key_pos["platform"] == Pos("images.yaml", 6, 13)


def test_extends_chain_and_template(tmp_path):
    m = load(tmp_path, """\
        version: 1
        defaults:
          labels: {vendor: acme}
        images:
          .common:
            args: {A: from-template, B: from-template}
            labels: {tier: common}
            tags: [t1]
          base:
            extends: .common
            context: base
            args: {B: from-base}
          app:
            extends: base
            context: app
            args: {C: from-app}
        """)
    assert list(m.images) == ["base", "app"]       # a template is not an image
    base, app = m.images["base"], m.images["app"]
    assert dict(base.args) == {"A": "from-template", "B": "from-base"}
    assert dict(app.args) == {"A": "from-template", "B": "from-base", "C": "from-app"}
    assert dict(app.labels) == {"vendor": "acme", "tier": "common"}
    assert app.tags == ("t1",)
    assert app.repository == "app"                 # the repository default is the image's own name
    assert app.context == (tmp_path / "app").resolve()
    assert ".common" not in m.groups["default"]


def test_extends_parent_beats_defaults(tmp_path):
    m = load(tmp_path, """\
        version: 1
        defaults:
          tags: [from-defaults]
        images:
          base: {context: base, tags: [from-base]}
          app: {context: app, extends: base, repository: app}
        """)
    assert m.images["app"].tags == ("from-base",)


def test_variants(tmp_path):
    m = load(tmp_path, """\
        version: 1
        images:
          hello:
            context: hello
            tags: [v0.1]
            args: {GREETING: hi, NODE: "20"}
            variants:
              v2: {dockerfile: Dockerfile-v2, tags: [v0.2], args: {NODE: "22"}}
              other: {repository: hello-other}
        """)
    assert list(m.images) == ["hello", "hello-v2", "hello-other"]
    v2 = m.images["hello-v2"]
    assert v2.repository == "hello"
    assert v2.dockerfile == "Dockerfile-v2"
    assert v2.tags == ("v0.2",)
    assert dict(v2.args) == {"GREETING": "hi", "NODE": "22"}
    assert v2.variant_of == "hello"
    assert v2.pos == Pos("images.yaml", 8, 7)
    assert v2.path == "images.hello.variants.v2"
    assert v2.key_path["dockerfile"] == "images.hello.variants.v2.dockerfile"
    assert v2.key_path["context"] == "images.hello.context"
    other = m.images["hello-other"]
    assert (other.repository, other.tags, other.dockerfile) == ("hello-other", ("v0.1",), "Dockerfile")
    assert m.groups["default"] == ("hello", "hello-v2", "hello-other")


def test_matrix_product_exclude_include_and_name_template(tmp_path):
    m = load(tmp_path, """\
        version: 1
        images:
          base: {context: base}
          app:
            context: app
            depends_on: [base]
            matrix:
              python: ["3.11", "3.12"]
              flavor: [slim, full]
              exclude: [{python: "3.11", flavor: full}]
              include: [{python: "3.13", flavor: slim}]
            name: "app-py${matrix.python}-${matrix.flavor}"
            args: {PYTHON: "${matrix.python}"}
            tags: ["py${matrix.python}-${matrix.flavor}"]
        groups:
          default: [base, app]
        """)
    cells = ["app-py3.11-slim", "app-py3.12-slim", "app-py3.12-full", "app-py3.13-slim"]
    assert list(m.images) == ["base"] + cells
    assert m.groups["app"] == tuple(cells)
    assert m.groups["default"] == ("base",) + tuple(cells)
    cell = m.images["app-py3.12-full"]
    assert dict(cell.matrix) == {"python": "3.12", "flavor": "full"}
    assert cell.matrix_group == "app"
    assert dict(cell.args) == {"PYTHON": "3.12"}
    assert cell.tags == ("py3.12-full",)
    assert cell.repository == "app"
    assert cell.depends_on == ("base",)
    assert m.group_pos["app"] == Pos("images.yaml", 4, 3)


def test_matrix_default_names_and_tags(tmp_path):
    m = load(tmp_path, """\
        version: 1
        images:
          app:
            context: app
            matrix:
              py: [3.11, 3.12]
              os: [alpine]
        """)
    assert list(m.images) == ["app-3.11-alpine", "app-3.12-alpine"]
    # numbers keep their written text; a cell's default tag joins its values
    assert m.images["app-3.12-alpine"].tags == ("3.12-alpine",)
    assert m.groups == {"app": ("app-3.11-alpine", "app-3.12-alpine"),
                        "default": ("app-3.11-alpine", "app-3.12-alpine")}


def test_variant_of_a_matrix_image_is_a_matrix_too(tmp_path):
    m = load(tmp_path, """\
        version: 1
        images:
          app:
            context: app
            matrix: {py: ["3.11", "3.12"]}
            tags: ["${matrix.py}"]
            variants:
              v2: {dockerfile: Dockerfile-v2, tags: ["${matrix.py}-v2"]}
        """)
    assert list(m.images) == ["app-3.11", "app-3.12", "app-v2-3.11", "app-v2-3.12"]
    assert m.groups["app-v2"] == ("app-v2-3.11", "app-v2-3.12")
    assert m.images["app-v2-3.12"].references == ("app:3.12-v2",)
    assert m.images["app-v2-3.12"].variant_of == "app"


def test_groups_expand_nested_and_keep_names(tmp_path):
    m = load(tmp_path, """\
        version: 1
        images:
          base: {context: base}
          app:
            context: app
            matrix: {py: ["3.11", "3.12"]}
          hello: {context: hello}
        groups:
          apps: [app, hello]
          release: [base, apps, app-3.11]
        """)
    assert m.groups["apps"] == ("app-3.11", "app-3.12", "hello")
    assert m.groups["release"] == ("base", "app-3.11", "app-3.12", "hello")
    assert m.groups["default"] == ("base", "app-3.11", "app-3.12", "hello")
    assert m.group_pos["release"] == Pos("images.yaml", 10, 3)


def test_depends_on_keeps_group_names(tmp_path):
    m = load(tmp_path, """\
        version: 1
        images:
          base:
            context: base
            matrix: {py: ["3.11"]}
          app: {context: app, depends_on: [base, base-3.11]}
        """)
    assert m.images["app"].depends_on == ("base", "base-3.11")


def test_interpolation_precedence_file_environment_var(tmp_path):
    manifest = """\
        version: 1
        variables:
          A: file
          B: file
          C: file
        images:
          base:
            context: base
            args: {A: "${A}", B: "${B}", C: "${C}", HOME: "${HOME}"}
        """
    m = load(tmp_path, manifest, environ={"B": "env", "C": "env", "HOME": "/home/u"}, variables={"C": "var"})
    assert dict(m.images["base"].args) == {"A": "file", "B": "env", "C": "var", "HOME": "/home/u"}
    assert dict(m.variables) == {"A": "file", "B": "env", "C": "var"}


def test_interpolation_defaults_dollars_and_nesting(tmp_path):
    m = load(tmp_path, """\
        version: 1
        variables:
          EMPTY: ""
          REGISTRY_HOST: registry.local
        registry: "${REGISTRY_HOST}:5000"
        images:
          base:
            context: base
            args:
              UNSET: "${NOPE:-fallback}"
              EMPTY: "${EMPTY:-was empty}"
              NESTED: "${NOPE:-${REGISTRY_HOST}}"
              DOLLARS: "price $$5, $${NOT_A_VAR}"
              LONE: "a $ b $HOME"
              NUM: 10
        """)
    assert m.registry == "registry.local:5000"
    assert dict(m.images["base"].args) == {
        "UNSET": "fallback", "EMPTY": "was empty", "NESTED": "registry.local",
        "DOLLARS": "price $5, ${NOT_A_VAR}", "LONE": "a $ b $HOME", "NUM": "10"}


def test_interpolation_in_context_repository_and_matrix_values(tmp_path):
    m = load(tmp_path, """\
        version: 1
        variables: {DIR: app, ORG: acme, OLD: "3.10"}
        images:
          app:
            context: "${DIR}"
            repository: "${ORG}/app"
            matrix: {py: ["${OLD}", "3.12"]}
            name: "app-${matrix.py:-none}"
            labels: {missing: "${matrix.nope:-none}"}
        """, variables={"ORG": "other"})
    assert list(m.images) == ["app-3.10", "app-3.12"]
    assert m.images["app-3.10"].repository == "other/app"
    assert m.images["app-3.10"].labels["missing"] == "none"


def test_keys_are_not_interpolated(tmp_path):
    m = load(tmp_path, """\
        version: 1
        variables: {A: x}
        images:
          base:
            context: base
            args: {"${A}": "${A}"}
        """)
    assert dict(m.images["base"].args) == {"${A}": "x"}


def test_yaml_anchors_and_merge_keys(tmp_path):
    m = load(tmp_path, """\
        version: 1
        defaults: &d
          labels: {team: core}
        images:
          base:
            <<: *d
            context: base
            labels: {team: base}
          app:
            <<: *d
            context: app
        """)
    assert dict(m.images["base"].labels) == {"team": "base"}
    assert dict(m.images["app"].labels) == {"team": "core"}


def test_relative_and_absolute_manifest_paths(tmp_path):
    write_manifest_tree(tmp_path / "repo", "version: 1\nimages:\n  base: {context: base}\n")
    m = load_manifest("repo/images.yaml", environ={}, cwd=tmp_path)
    assert m.display_path == "repo/images.yaml"
    assert m.path == tmp_path / "repo" / "images.yaml"
    assert m.images["base"].context == (tmp_path / "repo" / "base").resolve()
    absolute = load_manifest(tmp_path / "repo" / "images.yaml", environ={})
    assert absolute.display_path == str(tmp_path / "repo" / "images.yaml")
    assert absolute.images["base"].context == m.images["base"].context


def test_context_may_be_the_manifest_folder_and_dockerfile_a_subpath(tmp_path):
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "app.Dockerfile").write_text("FROM scratch\n")
    m = load(tmp_path, """\
        version: 1
        images:
          app: {context: ., dockerfile: docker/app.Dockerfile}
        """)
    assert m.images["app"].dockerfile_path == (tmp_path / "docker" / "app.Dockerfile").resolve()


def test_missing_file_is_a_manifest_error(tmp_path):
    with pytest.raises(ManifestError) as exc:
        load_manifest("nope.yaml", environ={}, cwd=tmp_path)
    assert str(exc.value) == "nope.yaml: no such file; create it, or name the manifest with -f PATH"
    assert exc.value.exit_code == 2


def test_schema_ships_in_the_package_and_is_valid():
    from jsonschema.validators import validator_for

    schema = load_schema()
    validator_for(schema).check_schema(schema)
    assert schema["properties"]["version"]["const"] == 1
    image = schema["$defs"]["image"]
    assert image["additionalProperties"] is False
    assert set(image["properties"]) == {"context", "dockerfile", "repository", "tags", "semver", "args",
                                        "labels", "target", "platform", "pull", "depends_on", "extends",
                                        "variants", "matrix", "name", "import"}
    assert all("description" in v or "$ref" in v for v in image["properties"].values())
    json.dumps(schema)


def test_schema_accepts_the_design_example():
    from jsonschema.validators import validator_for

    import yaml

    example = yaml.safe_load(textwrap.dedent("""\
        version: 1
        registry: localhost:5000/acme
        variables: {NODE_IMAGE: node:20-alpine}
        defaults:
          labels: {org.opencontainers.image.vendor: acme}
        images:
          hello:
            context: Dockerfiles/HelloWorld_NodeJS
            repository: hello
            tags: [v0.1]
            args: {NODE_IMAGE: "${NODE_IMAGE}"}
            variants:
              v2: {dockerfile: Dockerfile-v2, tags: [v0.2]}
          app:
            context: services/app
            extends: base-settings
            depends_on: [base]
            matrix:
              python: ["3.11", "3.12"]
              flavor: [slim, full]
              exclude: [{python: "3.11", flavor: full}]
            name: "app-py${matrix.python}-${matrix.flavor}"
            target: runtime
          rootfs:
            import: Dockerfiles/rootfs.tar
        groups:
          default: [hello, hello-v2]
        """))
    schema = load_schema()
    assert list(validator_for(schema)(schema).iter_errors(example)) == []


def test_interpolator_unit():
    interp = Interpolator({"A": "a"}, {"B": "b"}, {"C": "c"})
    assert interp.expand("${A}${B}${C}$$") == ("abc$", [])
    assert interp.expand("plain") == ("plain", [])
    assert interp.expand("${matrix.k}", {"k": "v"}) == ("v", [])
    text, errors = interp.expand("${X} and ${Y}")
    assert errors == [
        "undefined variable 'X'; define it under variables:, in the environment, or with --var X=...",
        "undefined variable 'Y'; define it under variables:, in the environment, or with --var Y=...",
    ]


def test_load_200_images_is_fast(tmp_path):
    import time

    lines = ["version: 1", "variables: {V: x}", "defaults: {labels: {a: b}}", "images:"]
    files = []
    for i in range(200):
        files.append(f"ctx/i{i}/Dockerfile")
        lines += [f"  img{i}:", f"    context: ctx/i{i}", f"    tags: [latest, '1.{i}']",
                  "    args: {A: '${V}', B: two}", f"    depends_on: [img{max(i - 1, 0)}]"]
    write_manifest_tree(tmp_path, "\n".join(lines) + "\n", files)
    load_manifest("images.yaml", environ={}, cwd=tmp_path)   # warm the schema validator
    start = time.perf_counter()
    m = load_manifest("images.yaml", environ={}, cwd=tmp_path)
    elapsed = time.perf_counter() - start
    assert len(m.images) == 200
    assert elapsed < 0.3, f"loading 200 images took {elapsed:.3f}s"
