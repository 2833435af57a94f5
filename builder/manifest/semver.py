"""Semantic versions (semver.org 2.0.0) and the image tags ``semver:`` expands one into.

``1.2.3`` (or ``v1.2.3``) becomes ``1.2.3``, then ``1.2`` when it is the highest patch of 1.2,
``1`` when it is the highest release of major 1, and ``latest`` when it is the highest release
of all, each among the releases known (the repository's git tags, plus the version itself). A
pre-release (``2.0.0-rc.1``) becomes only its own tag: it never moves ``2.0``, ``2`` or
``latest``. Docker tags cannot hold ``+``, so build metadata is written with ``_`` instead
(``1.2.3+7`` -> ``1.2.3_7``); it plays no part in ordering.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple


@functools.lru_cache(maxsize=None)
def _grammar():
    # semver.org's own grammar, with an optional leading 'v'. Compiled on first use: most
    # manifests never name a version, and every command loads the manifest.
    return re.compile(
        r"^[vV]?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
        r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
        r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")

EXPECTED = ("expected MAJOR.MINOR.PATCH, optionally with a leading 'v', a -PRERELEASE and a +BUILD, "
            "e.g. v1.2.3 or 2.0.0-rc.1")


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: Tuple[str, ...] = ()
    build: str = ""

    @property
    def is_release(self) -> bool:
        return not self.prerelease

    @property
    def text(self) -> str:
        """The version without a leading 'v', as semver writes it."""
        core = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            core += "-" + ".".join(self.prerelease)
        if self.build:
            core += "+" + self.build
        return core

    @property
    def tag(self) -> str:
        """The version as a Docker tag: ``+`` is not allowed there, ``_`` stands for it."""
        return self.text.replace("+", "_")

    def precedence(self) -> tuple:
        """A sort key following semver's precedence (build metadata ignored)."""
        if not self.prerelease:
            pre: tuple = (1,)          # a release ranks above its pre-releases
        else:
            # numeric identifiers rank below alphanumeric ones and compare as numbers
            pre = (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease))
        return (self.major, self.minor, self.patch, pre)


def parse(text: str) -> Optional[Version]:
    """The version ``text`` names, or None when it is not a semantic version."""
    m = _grammar().match(text.strip())
    if m is None:
        return None
    pre = tuple(m.group("pre").split(".")) if m.group("pre") else ()
    return Version(int(m.group("major")), int(m.group("minor")), int(m.group("patch")), pre,
                   m.group("build") or "")


def releases(names: Iterable[str]) -> List[Version]:
    """The release versions among tag names (``v?MAJOR.MINOR.PATCH``); anything else is skipped."""
    out = []
    for name in names:
        version = parse(name)
        if version is not None and version.is_release:
            out.append(version)
    return out


def highest(names: Iterable[str]) -> Optional[str]:
    """The name among ``names`` with the highest semantic version; None when none is one."""
    best: Optional[Tuple[tuple, str]] = None
    for name in names:
        version = parse(name)
        if version is not None and (best is None or version.precedence() > best[0]):
            best = (version.precedence(), name)
    return best[1] if best else None


def expand(version: Version, known: Iterable[Version]) -> List[str]:
    """The tags for ``version``, given the releases ``known`` (git tags); see the module's text."""
    tags = [version.tag]
    if not version.is_release:
        return tags
    mine = version.precedence()
    same_minor = same_major = everything = True
    for other in known:
        if not other.is_release or other.precedence() <= mine:
            continue
        everything = False
        if other.major == version.major:
            same_major = False
            if other.minor == version.minor:
                same_minor = False
    if same_minor:
        tags.append(f"{version.major}.{version.minor}")
    if same_major:
        tags.append(f"{version.major}")
    if everything:
        tags.append("latest")
    return tags
