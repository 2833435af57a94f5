"""Docker's reference grammar: tags, repositories, full references, normalisation."""
from __future__ import annotations

import pytest

from builder import refs

SHA = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("tag", ["latest", "1.0", "v0.1", "_x", "py3.12-slim", "A" * 128, "0"])
def test_valid_tags(tag):
    assert refs.validate_tag(tag) is None


@pytest.mark.parametrize("tag,message", [
    ("", "invalid tag ''"),
    (".hidden", "cannot start with '.' or '-'"),
    ("-x", "cannot start with '.' or '-'"),
    ("a" * 129, "longer than 128 characters"),
    ("a:b", "invalid tag 'a:b'"),
    ("a/b", "invalid tag 'a/b'"),
    ("é", "invalid tag 'é'"),
])
def test_invalid_tags(tag, message):
    assert message in refs.validate_tag(tag)


@pytest.mark.parametrize("name", [
    "base", "acme/base", "acme/team/base", "localhost/x", "localhost:5000/x", "registry.example.com/a/b",
    "a__b", "a--b", "a.b", "a_b", "[::1]:5000/x", "Acme/base", "reg-1.example.com:443/ns/img", "0", "a" * 255,
])
def test_valid_repositories(name):
    assert refs.validate_repository(name) is None


@pytest.mark.parametrize("name,message", [
    ("", "repository name is empty"),
    ("Base", "repository names must be lowercase"),
    ("acme/Base", "repository names must be lowercase"),
    ("a_", "each '/'-separated part"),
    ("-a", "each '/'-separated part"),
    ("a..b", "each '/'-separated part"),
    ("a___b", "each '/'-separated part"),
    ("a/", "each '/'-separated part"),
    ("a//b", "each '/'-separated part"),
    ("localhost:/x", "invalid registry port ''"),
    ("host:port/x", "invalid registry port 'port'"),
    ("-bad.example.com/x", "invalid registry host '-bad.example.com'"),
    ("[zz]:5000/x", "invalid registry host '[zz]'"),
    ("a" * 256, "longer than 255 characters"),
    ("f" * 64, "reserved for image IDs"),
    ("acme/base:1.0", "each '/'-separated part"),
])
def test_invalid_repositories(name, message):
    assert message in refs.validate_repository(name)


@pytest.mark.parametrize("ref", [
    "alpine", "alpine:3.19", f"alpine@{SHA}", f"alpine:3.19@{SHA}", "localhost:5000/x:1",
    "docker.io/library/alpine:latest", f"ghcr.io/acme/tool@sha512:{'a' * 128}",
])
def test_valid_references(ref):
    assert refs.validate_reference(ref) is None


@pytest.mark.parametrize("ref,message", [
    ("", "the reference is empty"),
    ("alpine:", "invalid tag ''"),
    ("alpine@sha256:" + "a" * 40, "sha256 needs 64 lowercase hex digits"),
    ("alpine@sha256:abc", "expected algorithm:hex"),
    (f"alpine@{SHA.upper().replace('SHA256', 'sha256')}", "lowercase hex digits"),
    (f"alpine@md5:{'a' * 32}", "unsupported algorithm 'md5'"),
    ("alpine@latest", "expected algorithm:hex"),
    ("ALPINE", "must be lowercase"),
    ("$IMAGE", "each '/'-separated part"),
    ("alpine:3.19:extra", "each '/'-separated part"),
])
def test_invalid_references(ref, message):
    problem = refs.validate_reference(ref)
    assert problem.startswith("invalid reference format: ") and message in problem


@pytest.mark.parametrize("ref,full", [
    ("acme/base", "docker.io/acme/base:latest"),
    ("base", "docker.io/library/base:latest"),
    ("base:1.0", "docker.io/library/base:1.0"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
    ("localhost/x:2", "localhost/x:2"),
    (f"x@{SHA}", f"docker.io/library/x@{SHA}"),
    (f"x:1@{SHA}", f"docker.io/library/x:1@{SHA}"),
    ("docker.io/base", "docker.io/library/base:latest"),
    ("index.docker.io/acme/base:1", "docker.io/acme/base:1"),
    ("registry.example.com/team/app:v2", "registry.example.com/team/app:v2"),
    ("Registry/app", "Registry/app:latest"),
    ("docker.io/library/base:latest", "docker.io/library/base:latest"),
])
def test_normalize(ref, full):
    assert refs.normalize(ref) == full


def test_normalize_makes_equal_references_equal():
    assert len({refs.normalize(r) for r in ("base", "base:latest", "library/base", "docker.io/library/base:latest",
                                             "index.docker.io/library/base")}) == 1


@pytest.mark.parametrize("ref,parts", [
    ("base", ("base", None, None)),
    ("base:1", ("base", "1", None)),
    ("localhost:5000/x", ("localhost:5000/x", None, None)),
    ("localhost:5000/x:2", ("localhost:5000/x", "2", None)),
    (f"x@{SHA}", ("x", None, SHA)),
    (f"host:1/x:t@{SHA}", ("host:1/x", "t", SHA)),
])
def test_split(ref, parts):
    assert refs.split(ref) == parts


@pytest.mark.parametrize("ref,short", [
    ("docker.io/library/base:latest", "base:latest"),
    ("acme/base", "acme/base:latest"),
    ("localhost:5000/x:1", "localhost:5000/x:1"),
    ("docker.io/library/team/x:1", "library/team/x:1"),
])
def test_familiar(ref, short):
    assert refs.familiar(ref) == short
