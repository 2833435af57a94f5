"""The dependency graph: declared edges plus those read from FROM, COPY --from and RUN --mount.

Edges point from parent (dependency) to child (dependent). No Docker here: a reference is an
edge when, after normalisation, it names what a manifest image produces; anything else is an
external base.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import networkx as nx

from builder import refs
from builder.dockerfile import DockerfileError, DockerfileInfo, parse_dockerfile
from builder.errors import ManifestError, Problem
from builder.manifest.model import ImageSpec, Manifest, Pos


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    via: str                      # "FROM" | "COPY --from" | "RUN --mount" | "depends_on"
    ref: Optional[str] = None     # the reference as written (after ARG substitution)


@dataclass(frozen=True)
class ImageGraph:
    manifest: Manifest
    graph: nx.DiGraph                                  # nodes: image names; edge attr "via": list of Edge
    external_bases: Mapping[str, Tuple[str, ...]]      # image -> external references, in Dockerfile order
    dockerfiles: Mapping[str, DockerfileInfo] = field(default_factory=dict)
    dockerfile_bytes: Mapping[str, bytes] = field(default_factory=dict)

    def parents(self, name: str) -> List[str]:
        return sorted(self.graph.predecessors(name))

    def edges(self) -> List[Edge]:
        out: List[Edge] = []
        for parent, child, data in self.graph.edges(data=True):
            out.extend(data["edges"])
        return sorted(out, key=lambda e: (e.child, e.parent, e.via, e.ref or ""))


def _reference_index(manifest: Manifest) -> Dict[str, str]:
    """normalised ``repository:tag`` -> image name, for local and pushed names."""
    index: Dict[str, str] = {}
    for image in manifest.images.values():
        for tag in image.tags:
            index.setdefault(refs.normalize(f"{image.repository}:{tag}"), image.name)
            index.setdefault(refs.normalize(manifest.push_reference(image, tag)), image.name)
    return index


def _expand(manifest: Manifest, name: str) -> Tuple[str, ...]:
    if name in manifest.images:
        return (name,)
    return tuple(manifest.groups.get(name, ()))


def _cell_matches(child: ImageSpec, parent: ImageSpec) -> bool:
    """A matrix child that shares a matrix key with its parent depends on the matching cell only."""
    shared = set(child.matrix) & set(parent.matrix)
    return all(child.matrix[k] == parent.matrix[k] for k in shared)


def _pos(image: ImageSpec, key: str) -> Pos:
    return image.key_pos.get(key) or image.pos or Pos("?", 0, 0)


def build_graph(manifest: Manifest) -> ImageGraph:
    """Read every Dockerfile and build the graph; raise ManifestError listing every problem."""
    problems: List[Problem] = []
    graph = nx.DiGraph()
    index = _reference_index(manifest)
    external: Dict[str, Tuple[str, ...]] = {}
    infos: Dict[str, DockerfileInfo] = {}
    raw: Dict[str, bytes] = {}

    def add_edge(edge: Edge) -> None:
        if graph.has_edge(edge.parent, edge.child):
            graph[edge.parent][edge.child]["edges"].append(edge)
        else:
            graph.add_edge(edge.parent, edge.child, edges=[edge])

    for image in manifest.images.values():
        graph.add_node(image.name)
    for image in manifest.images.values():
        for dep in image.depends_on:
            for parent_name in _expand(manifest, dep):
                parent = manifest.images[parent_name]
                if parent_name != image.name and _cell_matches(image, parent):
                    add_edge(Edge(parent_name, image.name, "depends_on"))
        if image.is_import:
            external[image.name] = ()
            continue
        path = image.dockerfile_path
        try:
            data = path.read_bytes()
        except OSError as exc:
            p = _pos(image, "dockerfile")
            problems.append(Problem(p.file, p.line, p.col, image.key_path.get("dockerfile") or _path(image),
                                    f"cannot read {path}: {exc.strerror}"))
            continue
        raw[image.name] = data
        try:
            info = parse_dockerfile(data.decode("utf-8", errors="replace"), dict(image.args), image.target)
        except DockerfileError as exc:
            rel = _display(manifest, path)
            problems.append(Problem(rel, exc.line, 1, _path(image), exc.message))
            continue
        infos[image.name] = info
        ext: List[str] = []
        for ref in info.references:
            try:
                target = index.get(refs.normalize(ref.ref))
            except Exception:  # an unparseable reference is the engine's to reject
                target = None
            if target is not None and target != image.name:
                add_edge(Edge(target, image.name, ref.via, ref.ref))
            elif target == image.name:
                p = _pos(image, "context")
                problems.append(Problem(p.file, p.line, p.col, _path(image),
                                        f"{_display(manifest, path)}:{ref.line}: {ref.via} {ref.ref} names this image itself"))
            elif ref.ref not in ext:
                ext.append(ref.ref)
        external[image.name] = tuple(ext)

    if not problems:
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            names = [u for u, _v in cycle] + [cycle[0][0]]
            first = manifest.images[names[0]]
            p = first.pos or Pos(manifest.display_path, 0, 0)
            hops = []
            for u, v in cycle:
                vias = sorted({e.via for e in graph[u][v]["edges"]})
                hops.append(f"{v} needs {u} ({', '.join(vias)})")
            problems.append(Problem(p.file, p.line, p.col, _path(first),
                                    f"dependency cycle: {' -> '.join(names)}; " + "; ".join(hops)))
    if problems:
        raise ManifestError(problems)
    return ImageGraph(manifest, graph, external, infos, raw)


def _path(image: ImageSpec) -> str:
    return image.path or f"images.{image.name}"


def _display(manifest: Manifest, path) -> str:
    try:
        rel = path.relative_to(manifest.root)
    except ValueError:
        return str(path)
    base = manifest.display_path.rsplit("/", 1)
    prefix = base[0] + "/" if len(base) == 2 else ""
    return prefix + rel.as_posix()


def did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
