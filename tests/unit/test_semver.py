"""`semver:` expansion: which tags one version gives, given the releases among the git tags."""
from __future__ import annotations

import pytest

from builder.manifest import semver

KNOWN = ["v1.2.3", "v1.3.9", "v1.4.0", "0.9.0", "v2.0.0-rc.1", "nightly", "v3.0", "release-4.0.0"]


@pytest.mark.parametrize("version, known, tags", [
    ("1.2.3", [], ["1.2.3", "1.2", "1", "latest"]),
    ("v1.2.3", [], ["1.2.3", "1.2", "1", "latest"]),
    ("V1.2.3", [], ["1.2.3", "1.2", "1", "latest"]),
    ("v1.4.0", KNOWN, ["1.4.0", "1.4", "1", "latest"]),
    # 1.4.0 is higher within major 1: no `1`, no `latest`
    ("v1.3.9", KNOWN, ["1.3.9", "1.3"]),
    # 1.2.4 is not the highest of 1.x (1.4.0) but is the highest 1.2.x
    ("1.2.4", KNOWN, ["1.2.4", "1.2"]),
    # a patch below a released one moves nothing
    ("1.2.2", KNOWN, ["1.2.2"]),
    ("0.9.1", KNOWN, ["0.9.1", "0.9", "0"]),
    # pre-releases: only their own tag, and the git tags' pre-releases never count as releases
    ("v2.0.0-rc.1", KNOWN, ["2.0.0-rc.1"]),
    ("2.0.0-rc.1", [], ["2.0.0-rc.1"]),
    ("v2.0.0", KNOWN, ["2.0.0", "2.0", "2", "latest"]),
    ("1.0.0-alpha.beta.1", [], ["1.0.0-alpha.beta.1"]),
    # the version is already a tag: that does not make it lower than itself
    ("1.4.0", ["1.4.0"], ["1.4.0", "1.4", "1", "latest"]),
    # build metadata: no '+' in Docker tags; it plays no part in ordering
    ("1.4.0+build.7", ["1.4.0"], ["1.4.0_build.7", "1.4", "1", "latest"]),
    ("1.5.0+7", KNOWN, ["1.5.0_7", "1.5", "1", "latest"]),
])
def test_expand(version, known, tags):
    parsed = semver.parse(version)
    assert parsed is not None
    assert semver.expand(parsed, semver.releases(known)) == tags


@pytest.mark.parametrize("text", ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "v", "vv1.2.3",
                                  "1.2.3-", "1.2.3-01", "1.2.3+", "1.2.3-rc..1", "latest", "1.2.x", "-1.2.3"])
def test_invalid(text):
    assert semver.parse(text) is None


@pytest.mark.parametrize("names, highest", [
    (["v1.0.0", "v1.10.0", "v1.9.0"], "v1.10.0"),
    (["v2.0.0-rc.1", "v1.9.9"], "v2.0.0-rc.1"),
    (["v2.0.0-rc.1", "v2.0.0"], "v2.0.0"),
    (["2.0.0-rc.2", "2.0.0-rc.10"], "2.0.0-rc.10"),      # numeric identifiers compare as numbers
    (["2.0.0-alpha", "2.0.0-1"], "2.0.0-alpha"),         # alphanumeric above numeric
    (["2.0.0-alpha", "2.0.0-alpha.1"], "2.0.0-alpha.1"),  # more identifiers rank higher
    (["nightly", "stable"], None),
])
def test_highest(names, highest):
    assert semver.highest(names) == highest


def test_releases_skip_pre_releases_and_other_tags():
    assert [v.text for v in semver.releases(KNOWN)] == ["1.2.3", "1.3.9", "1.4.0", "0.9.0"]
