"""Selectors: an image name, a group name, a glob (``app-*``), ``NAME+`` (with its descendants)."""
from __future__ import annotations

import fnmatch
from typing import Iterable, List, Set

import networkx as nx

from builder.errors import UsageError
from builder.plan.graph import ImageGraph, did_you_mean


def resolve(graph: ImageGraph, selectors: Iterable[str]) -> List[str]:
    """The images the selectors name, in declaration order (without their parents)."""
    manifest = graph.manifest
    selectors = list(selectors) or ["default"]
    chosen: Set[str] = set()
    unknown: List[str] = []
    for selector in selectors:
        with_descendants = selector.endswith("+") and len(selector) > 1
        base = selector[:-1] if with_descendants else selector
        names: Set[str] = set()
        if base in manifest.images:
            names.add(base)
        elif base in manifest.groups:
            names.update(manifest.groups[base])
        elif any(ch in base for ch in "*?["):
            names.update(n for n in manifest.images if fnmatch.fnmatchcase(n, base))
            for group, members in manifest.groups.items():
                if fnmatch.fnmatchcase(group, base):
                    names.update(members)
        if not names:
            unknown.append(selector)
            continue
        if with_descendants:
            for name in list(names):
                names.update(nx.descendants(graph.graph, name))
        chosen |= names
    if unknown:
        candidates = list(manifest.images) + list(manifest.groups)
        lines = [f"no image or group matches '{s}'{did_you_mean(s.rstrip('+'), candidates)}" for s in unknown]
        raise UsageError("\n".join(lines))
    return [n for n in manifest.images if n in chosen]


def with_ancestors(graph: ImageGraph, names: Iterable[str]) -> List[str]:
    """Building an image always brings its manifest parents up to date first."""
    closure: Set[str] = set()
    for name in names:
        closure.add(name)
        closure |= nx.ancestors(graph.graph, name)
    return [n for n in graph.manifest.images if n in closure]
