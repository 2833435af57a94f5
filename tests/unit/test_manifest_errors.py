"""Bad manifests and the exact messages they produce: FILE:LINE:COL: dotted.path: message."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.errors import ManifestError
from builder.manifest import load_manifest

# Every case loads against this tree; "outside" and "link-to-outside" sit beside it.
TREE = ("base/Dockerfile", "app/Dockerfile", "hello/Dockerfile", "hello/Dockerfile-v2", "notes.txt", "rootfs.tar")


def write_bad_manifest_tree(tmp_path: Path, manifest) -> Path:
    """repo/images.yaml (text or bytes, written as is) plus the contexts of TREE; returns repo/."""
    root = tmp_path / "repo"
    for rel in TREE:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM scratch\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM scratch\n")
    os.symlink(outside, root / "link-to-outside")
    (root / "images.yaml").write_bytes(manifest if isinstance(manifest, bytes) else manifest.encode())
    return root


def problems(tmp_path: Path, manifest, environ=None, variables=None):
    root = write_bad_manifest_tree(tmp_path, manifest)
    with pytest.raises(ManifestError) as exc:
        load_manifest("images.yaml", variables=variables, environ=environ or {}, cwd=root)
    assert exc.value.exit_code == 2
    return [str(p) for p in exc.value.problems]


BAD_MANIFESTS = [
    pytest.param("""\
version: 1
images:
  base: {context: base, tags: [a, b}
""", [
        "images.yaml:3:36: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at "
        "line 3, column 31)",
    ], id='yaml_syntax_flow'),
    pytest.param("""\
version: 1
images:
  base: context: base
""", [
        "images.yaml:3:16: invalid YAML: mapping values are not allowed in this context",
    ], id='yaml_syntax_mapping_value'),
    pytest.param('version: 1\nimages:\n\tbase: {context: base}\n', [
        "images.yaml:3:1: invalid YAML: found character that cannot start any token (while scanning for the "
        "next token); YAML is indented with spaces, not tabs",
    ], id='yaml_tab_indent'),
    pytest.param("""\
version: 1
images: {base: {context: base}}
---
version: 1
""", [
        "images.yaml:3:1: invalid YAML: the file holds more than one document ('---'); a manifest is one "
        "document",
    ], id='yaml_two_documents'),
    pytest.param('version: 1\nimages:\n  base: {context: base\x00}\n', [
        "images.yaml:3:23: invalid YAML: character #x0000 is not allowed in YAML",
    ], id='yaml_control_character'),
    pytest.param('', [
        "images.yaml: the file is empty; a manifest is a mapping that starts with 'version: 1' and declares "
        "'images:'",
    ], id='empty_file'),
    pytest.param("""\
# nothing yet

""", [
        "images.yaml: the file is empty; a manifest is a mapping that starts with 'version: 1' and declares "
        "'images:'",
    ], id='only_comments'),
    pytest.param("""\
- version: 1
- images: {}
""", [
        "images.yaml:1:1: the top level must be a mapping (version:, images:, ...), got a list",
    ], id='top_level_list'),
    pytest.param('images.yaml\n', [
        "images.yaml:1:1: the top level must be a mapping (version:, images:, ...), got a string "
        "('images.yaml')",
    ], id='top_level_scalar'),
    pytest.param(b'version: 1\nimages:\n  base:\n    context: base\n    labels: {a: caf\xe9}\n', [
        "images.yaml:5:20: the file is not UTF-8: byte 0xe9 cannot start a character here; save it as UTF-8",
    ], id='not_utf8'),
    pytest.param("""\
version: 1
images:
  base:
    context: !!python/object/apply:os.system ["touch PWNED"]
""", [
        "images.yaml:4:14: images.base.context: unsupported YAML tag '!!python/object/apply:os.system'; the "
        "manifest holds plain values only (it is never executed)",
    ], id='unsafe_tag_python_object'),
    pytest.param("""\
version: 1
images:
  base: !Image {context: base}
""", [
        "images.yaml:3:9: images.base: unsupported YAML tag '!Image'; the manifest holds plain values only (it "
        "is never executed)",
    ], id='unsafe_tag_custom'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    tags: [a]
    tags: [b]
""", [
        "images.yaml:6:5: images.base.tags: duplicate key 'tags' (first written at line 5, column 5)",
    ], id='duplicate_key_in_image'),
    pytest.param("""\
version: 1
images:
  base: {context: base}
  base: {context: app}
""", [
        "images.yaml:4:3: images.base: duplicate key 'base' (first written at line 3, column 3)",
    ], id='duplicate_image'),
    pytest.param("""\
version: 1
images:
  base: &a
    context: base
    args: *a
""", [
        "images.yaml:3:9: images.base.args: an alias refers to a node that contains it",
    ], id='recursive_alias'),
    pytest.param("""\
version: 1
images:
  ? [a, b]
  : {context: base}
""", [
        "images.yaml:3:5: images: a mapping key must be a plain name, not a list or mapping",
    ], id='mapping_as_key'),
    pytest.param("""\
version: 1
imagse: {}
images: {base: {context: base}}
""", [
        "images.yaml:2:1: imagse: unknown key 'imagse' (did you mean 'images'?)",
    ], id='unknown_top_level_key'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    tgas: [a]
""", [
        "images.yaml:5:5: images.base.tgas: unknown key 'tgas' (did you mean 'tags'?)",
    ], id='unknown_image_key'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    colour: blue
""", [
        "images.yaml:5:5: images.base.colour: unknown key 'colour'",
    ], id='unknown_image_key_no_suggestion'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix:
      python: ["3.11", "3.12"]
      exclude: [{pyhton: "3.11"}]
""", [
        "images.yaml:7:18: images.app.matrix.exclude[0].pyhton: unknown matrix key 'pyhton' (did you mean "
        "'python'?); the matrix has python",
    ], id='unknown_key_in_matrix_entry_key'),
    pytest.param("""\
version: 1
defaults:
  matrix: {a: [1]}
images:
  base: {context: base}
""", [
        "images.yaml:3:3: defaults.matrix: 'matrix' cannot be set in defaults",
    ], id='matrix_in_defaults'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    variants:
      v2: {extends: base}
""", [
        "images.yaml:6:12: images.base.variants.v2.extends: 'extends' cannot be set in a variant",
    ], id='extends_in_variant'),
    pytest.param("""\
version: 1
images:
  api:
    context: app
    args: [NODE=20]
""", [
        "images.yaml:5:11: images.api.args: expected a mapping, got a list",
    ], id='wrong_type_args_list'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    tags: latest
""", [
        "images.yaml:5:11: images.base.tags: expected a list, got a string ('latest')",
    ], id='wrong_type_tags_string'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    pull: "yes"
""", [
        "images.yaml:5:11: images.base.pull: expected true or false, got a string ('yes')",
    ], id='wrong_type_pull'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    args:
      A: {b: c}
""", [
        "images.yaml:6:10: images.base.args.A: expected a string, a number or a boolean, got a mapping",
    ], id='wrong_type_arg_value'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    labels:
      org.opencontainers.image.title: [x]
""", [
        'images.yaml:6:39: images.base.labels["org.opencontainers.image.title"]: expected a string, a number or '
        "a boolean, got a list",
    ], id='wrong_type_label_value_quoted_path'),
    pytest.param("""\
version: 1
images:
  base:
  app: {context: app}
""", [
        "images.yaml:3:8: images.base: expected a mapping, got null",
    ], id='wrong_type_image_null'),
    pytest.param("""\
version: 1
images:
  base: {context: base}
groups:
  default: base
""", [
        "images.yaml:5:12: groups.default: expected a list, got a string ('base')",
    ], id='wrong_type_groups_member_list'),
    pytest.param("""\
version: 1
registry: [localhost:5000]
images:
  base: {context: base}
""", [
        "images.yaml:2:11: registry: expected a string, got a list",
    ], id='wrong_type_registry'),
    pytest.param("""\
version: 2
images:
  base: {context: base}
""", [
        "images.yaml:1:10: version: unsupported version 2; this release reads version 1",
    ], id='unsupported_version'),
    pytest.param("""\
version: "1"
images:
  base: {context: base}
""", [
        "images.yaml:1:10: version: expected the number 1, got a string ('1')",
    ], id='version_as_string'),
    pytest.param("""\
images:
  base: {context: base}
""", [
        "images.yaml:1:1: missing required key 'version'",
    ], id='missing_version'),
    pytest.param('version: 1\n', [
        "images.yaml:1:1: missing required key 'images'",
    ], id='missing_images'),
    pytest.param("""\
version: 1
images: {}
""", [
        "images.yaml:2:9: images: must not be an empty mapping",
    ], id='no_images'),
    pytest.param("""\
version: 1
variables:
  my-var: x
images:
  base: {context: base}
""", [
        "images.yaml:3:3: variables.my-var: invalid name 'my-var': expected a name of letters, digits and '_' "
        "that does not start with a digit",
    ], id='bad_variable_name'),
    pytest.param("""\
version: 1
images:
  base: {context: base, tags: []}
""", [
        "images.yaml:3:31: images.base.tags: must not be an empty list",
    ], id='empty_tags'),
    pytest.param("""\
version: 1
images:
  base: {context: base, tags: [a, b, a]}
""", [
        "images.yaml:3:38: images.base.tags[2]: 'a' is listed twice (first at [0])",
    ], id='tag_listed_twice'),
    pytest.param("""\
version: 1
images:
  base: {context: base}
  app: {context: app, extends: bsae}
""", [
        "images.yaml:4:32: images.app.extends: unknown image 'bsae' to extend (did you mean 'base'?)",
    ], id='unknown_extends'),
    pytest.param("""\
version: 1
images:
  base: {context: base, extends: app}
  app: {context: app, extends: base}
""", [
        "images.yaml:3:34: images.base.extends: extends cycle: base -> app -> base",
    ], id='extends_cycle'),
    pytest.param("""\
version: 1
images:
  base: {context: base}
  app: {context: app, depends_on: [bsae]}
""", [
        "images.yaml:4:36: images.app.depends_on[0]: unknown image or group 'bsae' (did you mean 'base'?)",
    ], id='unknown_depends_on'),
    pytest.param("""\
version: 1
images:
  base: {context: base}
  hello: {context: hello}
groups:
  default: [base, hello, helo]
""", [
        "images.yaml:6:26: groups.default[2]: unknown image or group 'helo' (did you mean 'hello'?)",
    ], id='unknown_group_member'),
    pytest.param("""\
version: 1
images:
  .common: {labels: {team: core}}
  base: {context: base, extends: .common}
groups:
  all: [.common, base]
""", [
        "images.yaml:6:9: groups.all[0]: '.common' is a template (its name starts with '.'), not an image",
    ], id='template_in_group'),
    pytest.param("""\
version: 1
images:
  base: {context: base}
groups:
  base: [base]
""", [
        "images.yaml:5:3: groups.base: group 'base' has the same name as an image",
    ], id='group_named_like_image'),
    pytest.param("""\
version: 1
images:
  base: {context: base}
groups:
  a: [base, b]
  b: [a]
""", [
        "images.yaml:6:7: groups.b[0]: group cycle: a -> b -> a",
    ], id='group_cycle'),
    pytest.param("""\
version: 1
variables:
  NODE_VERSION: "20"
images:
  base:
    context: base
    args: {NODE_IMAGE: "node:${NODE_VERSON}"}
""", [
        "images.yaml:7:24: images.base.args.NODE_IMAGE: undefined variable 'NODE_VERSON' (did you mean "
        "'NODE_VERSION'?); define it under variables:, in the environment, or with --var NODE_VERSON=...",
    ], id='undefined_variable_did_you_mean'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    tags: ["${RELEASE}"]
""", [
        "images.yaml:5:12: images.base.tags[0]: undefined variable 'RELEASE'; define it under variables:, in "
        "the environment, or with --var RELEASE=...",
    ], id='undefined_variable'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    labels: {a: "${X"}
""", [
        "images.yaml:5:17: images.base.labels.a: unterminated '${' in '${X': add the closing '}' (write $$ for "
        "a literal $)",
    ], id='unterminated_reference'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    args: {PY: "${matrix.python}"}
""", [
        "images.yaml:5:16: images.base.args.PY: '${matrix.python}' is used in an image without a matrix",
    ], id='matrix_reference_without_matrix'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix: {python: ["3.11"]}
    args: {PY: "${matrix.pyton}"}
""", [
        "images.yaml:6:16: images.app.args.PY: unknown matrix key 'pyton' (did you mean 'matrix.python'?); this "
        "image's matrix has python",
    ], id='unknown_matrix_key_reference'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    tags: [latest, "v1/x", .hidden]
""", [
        "images.yaml:5:20: images.base.tags[1]: invalid tag 'v1/x': a tag is up to 128 letters, digits, '_', "
        "'.' and '-', and cannot start with '.' or '-'",
        "images.yaml:5:28: images.base.tags[2]: invalid tag '.hidden': a tag is up to 128 letters, digits, '_', "
        "'.' and '-', and cannot start with '.' or '-'",
    ], id='bad_tags'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    repository: Acme/Base
""", [
        "images.yaml:5:17: images.base.repository: invalid repository 'Acme/Base': repository names must be "
        "lowercase",
    ], id='bad_repository'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    repository: localhost:port/base
""", [
        "images.yaml:5:17: images.base.repository: invalid repository 'localhost:port/base': invalid registry "
        "port 'port'",
    ], id='bad_repository_port'),
    pytest.param("""\
version: 1
images:
  Base: {context: base}
""", [
        "images.yaml:3:3: images.Base: invalid repository 'Base': repository names must be lowercase (an "
        "image's name is its default repository; set repository:)",
    ], id='bad_default_repository'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    repository: acme/x
    tags: ["1.0"]
  app:
    context: app
    repository: docker.io/acme/x
    tags: [latest, "1.0"]
""", [
        "images.yaml:10:20: images.app.tags[1]: 'docker.io/acme/x:1.0' is produced by both 'base' and 'app'",
    ], id='duplicate_reference'),
    pytest.param("""\
version: 1
images:
  hello:
    context: hello
    variants:
      v2: {dockerfile: Dockerfile-v2}
""", [
        "images.yaml:6:7: images.hello.variants.v2: 'hello:latest' is produced by both 'hello' and 'hello-v2' "
        "('hello-v2' has no tags: of its own)",
    ], id='duplicate_reference_variant'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix: {py: ["3.11", "3.12"]}
    tags: [latest]
""", [
        "images.yaml:6:12: images.app.tags[0]: 'app:latest' is produced by both 'app-3.11' and 'app-3.12' (use "
        "${matrix.KEY} in tags: to tell the cells of a matrix apart)",
    ], id='duplicate_reference_matrix'),
    pytest.param("""\
version: 1
images:
  base:
    context: bsae
""", [
        "images.yaml:4:14: images.base.context: context folder 'bsae' does not exist",
    ], id='missing_context_folder'),
    pytest.param("""\
version: 1
images:
  base:
    context: notes.txt
""", [
        "images.yaml:4:14: images.base.context: context 'notes.txt' is not a folder",
    ], id='context_is_a_file'),
    pytest.param("""\
version: 1
images:
  base:
    context: .
""", [
        "images.yaml:4:14: images.base.context: Dockerfile 'Dockerfile' not found in context '.'",
    ], id='missing_dockerfile'),
    pytest.param("""\
version: 1
images:
  hello:
    context: hello
    variants:
      v3: {dockerfile: Dockerfile-v3, tags: [v3]}
""", [
        "images.yaml:6:24: images.hello.variants.v3.dockerfile: Dockerfile 'Dockerfile-v3' not found in context "
        "'hello'",
    ], id='missing_variant_dockerfile'),
    pytest.param("""\
version: 1
images:
  base:
    context: ../outside
""", [
        "images.yaml:4:14: images.base.context: context '../outside' is outside the manifest's folder",
    ], id='context_outside_folder'),
    pytest.param("""\
version: 1
images:
  base:
    context: link-to-outside
""", [
        "images.yaml:4:14: images.base.context: context 'link-to-outside' is outside the manifest's folder",
    ], id='context_outside_folder_by_symlink'),
    pytest.param("""\
version: 1
images:
  base:
    context: /
""", [
        "images.yaml:4:14: images.base.context: context '/' is outside the manifest's folder",
    ], id='context_absolute_outside'),
    pytest.param("""\
version: 1
images:
  rootfs:
    import: rootfs.tgz
""", [
        "images.yaml:4:13: images.rootfs.import: import file 'rootfs.tgz' does not exist",
    ], id='import_file_missing'),
    pytest.param("""\
version: 1
images:
  rootfs:
    context: base
    import: rootfs.tar
""", [
        "images.yaml:5:13: images.rootfs.import: an image has either context: (to build it) or import: (a "
        "tarball to import), not both",
    ], id='import_and_context'),
    pytest.param("""\
version: 1
images:
  base:
    tags: [a]
""", [
        "images.yaml:3:3: images.base: missing 'context' (the build context folder, relative to the manifest) "
        "or 'import' (a tarball to import)",
    ], id='no_context_nor_import'),
    pytest.param("""\
version: 1
images:
  "app*": {context: app}
""", [
        'images.yaml:3:3: images["app*"]: invalid image name \'app*\': use letters, digits, \'.\', \'_\' and '
        "'-', starting with a letter or digit",
    ], id='image_name_not_a_selector'),
    pytest.param("""\
version: 1
images:
  hello:
    context: hello
    variants:
      v2: {dockerfile: Dockerfile-v2, tags: [v2]}
  hello-v2:
    context: hello
    repository: other
""", [
        "images.yaml:7:3: images.hello-v2: duplicate image name 'hello-v2' (also made by "
        "images.hello.variants.v2)",
    ], id='variant_name_clash'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix:
      py: ["3.11", "3.12"]
      exclude: [{py: "3.10"}]
""", [
        "images.yaml:7:17: images.app.matrix.exclude[0]: this exclude entry ({py: 3.10}) matches no cell of the "
        "matrix",
    ], id='matrix_exclude_matches_nothing'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix:
      py: ["3.11"]
      os: [alpine]
      include: [{py: "3.13"}]
""", [
        "images.yaml:8:17: images.app.matrix.include[0]: this include entry has no value for matrix key 'os'; "
        "an included cell names a value for every key",
    ], id='matrix_include_incomplete'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix:
      py: ["3.11"]
      exclude: [{py: "3.11"}]
""", [
        "images.yaml:6:7: images.app.matrix: the matrix has no cells left: exclude removes every combination",
    ], id='matrix_everything_excluded'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix:
      py: []
""", [
        "images.yaml:6:11: images.app.matrix.py: must not be an empty list",
    ], id='matrix_empty_values'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix: {base: ["node:20"]}
""", [
        "images.yaml:5:13: images.app.matrix: the matrix cell {base: node:20} is named 'app-node:20', which is "
        "not a valid image name (use letters, digits, '.', '_' and '-', starting with a letter or digit); name "
        "the cells with name:",
    ], id='matrix_cell_name_invalid'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    name: app-x
""", [
        "images.yaml:5:11: images.app.name: 'name' names the cells of a matrix; this image has no matrix: "
        "(remove name:, or add a matrix)",
    ], id='name_without_matrix'),
    pytest.param("""\
version: 1
images:
  base:
    context: base
    repository: acme/base_
""", [
        "images.yaml:5:17: images.base.repository: invalid repository 'acme/base_': each '/'-separated part "
        "must be lowercase letters and digits, separated by '.', '_', '__' or '-'",
    ], id='bad_repository_component'),
    pytest.param("""\
version: 1
registry: localhost:port/acme
images:
  base: {context: base}
""", [
        "images.yaml:2:11: registry: invalid registry 'localhost:port/acme': expected host[:port] and an "
        "optional path, e.g. localhost:5000/acme",
    ], id='bad_registry'),
    pytest.param("""\
version: 1
images:
  .common: {labels: {team: core}}
  base: {context: base, extends: .comon}
""", [
        "images.yaml:4:34: images.base.extends: unknown image '.comon' to extend (did you mean '.common'?)",
    ], id='unknown_template_to_extend'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix: {py: ["3.11"]}
    variants:
      v2: {tags: [v2]}
  app-v2: {context: app}
""", [
        "images.yaml:8:3: images.app-v2: image name 'app-v2' is already the group of the matrix cells of "
        "images.app.variants.v2",
    ], id='matrix_group_named_like_image'),
    pytest.param("""\
version: 1
images:
  app:
    context: app
    matrix:
      py: ["3.11"]
      os: ["${matrix.py}"]
""", [
        "images.yaml:7:12: images.app.matrix.os[0]: '${matrix.py}' cannot be used here: matrix values and names "
        "of images to extend are read before the matrix is expanded",
    ], id='matrix_reference_in_matrix_value'),
]


@pytest.mark.parametrize("manifest, expected", BAD_MANIFESTS)
def test_bad_manifest_message(tmp_path, manifest, expected):
    assert problems(tmp_path, manifest) == expected


@pytest.mark.parametrize("manifest, expected", BAD_MANIFESTS)
def test_validate_prints_each_problem_and_exits_2(tmp_path, monkeypatch, capsys, manifest, expected):
    """The same table through the command line, as a user runs it."""
    from builder.cli import main

    root = write_bad_manifest_tree(tmp_path, manifest)
    monkeypatch.chdir(root)
    monkeypatch.setattr(os, "environ", {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": os.environ["PATH"]})
    assert main(["validate"]) == 2
    lines = capsys.readouterr().err.splitlines()
    n = len(expected)
    assert lines == expected + [f"{n} problem{'s' if n != 1 else ''} in images.yaml"]


def test_table_is_large_enough():
    assert len(BAD_MANIFESTS) >= 35


def test_python_object_tag_is_never_executed(tmp_path):
    marker = tmp_path / "PWNED"
    manifest = (
        "version: 1\n"
        "images:\n"
        "  base:\n"
        f"    context: !!python/object/apply:os.system [\"touch {marker}\"]\n"
        "    args: !!python/object/new:builtins.exec [\"raise SystemExit(99)\"]\n"
    )
    assert problems(tmp_path, manifest) == [
        "images.yaml:4:14: images.base.context: unsupported YAML tag '!!python/object/apply:os.system'; "
        "the manifest holds plain values only (it is never executed)",
        "images.yaml:5:11: images.base.args: unsupported YAML tag '!!python/object/new:builtins.exec'; "
        "the manifest holds plain values only (it is never executed)",
    ]
    assert not marker.exists()


def test_several_problems_are_all_reported_sorted(tmp_path):
    manifest = """\
version: 2
images:
  zed:
    context: app
    tags: ["${RELEASE}"]
  base:
    context: base
    tgas: [a]
  app:
    context: nowhere
    depends_on: [bsae]
  hello:
    context: hello
    tags: ["v1/x"]
groups:
  default: [base, helo]
"""
    found = problems(tmp_path, manifest)
    assert found == [
        "images.yaml:1:10: version: unsupported version 2; this release reads version 1",
        "images.yaml:5:12: images.zed.tags[0]: undefined variable 'RELEASE'; define it under variables:, "
        "in the environment, or with --var RELEASE=...",
        "images.yaml:8:5: images.base.tgas: unknown key 'tgas' (did you mean 'tags'?)",
        "images.yaml:10:14: images.app.context: context folder 'nowhere' does not exist",
        "images.yaml:11:18: images.app.depends_on[0]: unknown image or group 'bsae' (did you mean 'base'?)",
        "images.yaml:14:12: images.hello.tags[0]: invalid tag 'v1/x': a tag is up to 128 letters, digits, "
        "'_', '.' and '-', and cannot start with '.' or '-'",
        "images.yaml:16:19: groups.default[1]: unknown image or group 'helo' (did you mean 'hello'?)",
    ]


def test_yaml_level_problems_are_reported_together(tmp_path):
    manifest = """\
version: 1
images:
  base:
    context: base
    context: app
    args: !Env HOME
  base:
    context: base
"""
    assert problems(tmp_path, manifest) == [
        "images.yaml:5:5: images.base.context: duplicate key 'context' (first written at line 4, column 5)",
        "images.yaml:6:11: images.base.args: unsupported YAML tag '!Env'; the manifest holds plain values "
        "only (it is never executed)",
        "images.yaml:7:3: images.base: duplicate key 'base' (first written at line 3, column 3)",
    ]


def test_the_error_text_is_one_line_per_problem(tmp_path):
    root = write_bad_manifest_tree(tmp_path, "version: 1\nimages:\n  base: {context: base, tags: [-x, .y]}\n")
    with pytest.raises(ManifestError) as exc:
        load_manifest("images.yaml", environ={}, cwd=root)
    assert str(exc.value).splitlines() == [
        "images.yaml:3:32: images.base.tags[0]: invalid tag '-x': a tag is up to 128 letters, digits, '_', "
        "'.' and '-', and cannot start with '.' or '-'",
        "images.yaml:3:36: images.base.tags[1]: invalid tag '.y': a tag is up to 128 letters, digits, '_', "
        "'.' and '-', and cannot start with '.' or '-'",
    ]


def test_undefined_variable_suggests_an_environment_variable(tmp_path):
    manifest = "version: 1\nimages:\n  base:\n    context: base\n    args: {U: \"${USERNAM}\"}\n"
    assert problems(tmp_path, manifest, environ={"USERNAME": "me"}) == [
        "images.yaml:5:15: images.base.args.U: undefined variable 'USERNAM' (did you mean 'USERNAME'?); "
        "define it under variables:, in the environment, or with --var USERNAM=...",
    ]


def test_a_var_override_defines_a_variable(tmp_path):
    manifest = "version: 1\nimages:\n  base:\n    context: base\n    tags: [\"${RELEASE}\", \"${REL}\"]\n"
    assert problems(tmp_path, manifest, variables={"RELEASE": "1.0"}) == [
        "images.yaml:5:26: images.base.tags[1]: undefined variable 'REL' (did you mean 'RELEASE'?); "
        "define it under variables:, in the environment, or with --var REL=...",
    ]


def test_a_problem_in_defaults_is_reported_once(tmp_path):
    manifest = """\
version: 1
defaults:
  labels: {built-by: "${BUILDER}"}
images:
  base: {context: base}
  app: {context: app}
"""
    assert problems(tmp_path, manifest) == [
        "images.yaml:3:22: defaults.labels.built-by: undefined variable 'BUILDER'; define it under variables:, "
        "in the environment, or with --var BUILDER=...",
    ]


def test_a_schema_problem_in_one_image_does_not_hide_the_others(tmp_path):
    manifest = """\
version: 1
images:
  base:
    context: base
    args: [A=1]
  app:
    context: app
    extends: base
    depends_on: [base]
  hello:
    context: hello
    repository: Hello
"""
    # `app` extends a rejected image: nothing more is said about it; `base` still counts as declared.
    assert problems(tmp_path, manifest) == [
        "images.yaml:5:11: images.base.args: expected a mapping, got a list",
        "images.yaml:12:17: images.hello.repository: invalid repository 'Hello': repository names must be "
        "lowercase",
    ]


def test_missing_manifest_file(tmp_path):
    with pytest.raises(ManifestError) as exc:
        load_manifest("images.yaml", environ={}, cwd=tmp_path)
    assert str(exc.value) == "images.yaml: no such file; create it, or name the manifest with -f PATH"


def test_manifest_path_is_a_folder(tmp_path):
    (tmp_path / "images.yaml").mkdir()
    with pytest.raises(ManifestError) as exc:
        load_manifest("images.yaml", environ={}, cwd=tmp_path)
    assert str(exc.value) == "images.yaml: is a folder; name the manifest file itself with -f PATH"
