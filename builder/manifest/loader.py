"""Load a manifest: read, check its structure, resolve it into ``ImageSpec``s, cross-check.

Order of resolution, for each image: ``defaults`` under it (or, with ``extends``, the resolved
parent, which already has the defaults), then its own settings; then each ``variants`` entry
becomes an image ``<name>-<variant>``; then a ``matrix`` expands each of those into cells; then
``${...}`` references are expanded per image (a matrix cell sees its own ``${matrix.KEY}``).

Every problem is collected before one ManifestError is raised. Structural problems in one
image do not hide the problems of the others: an image the schema rejects is left out of
resolution (and so are images extending it), but its name still counts as declared.
"""
from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Set, Tuple

from builder import refs
from builder.errors import ManifestError, Problem
from builder.manifest import schema
from builder.manifest.gitvalues import GitUnavailable, GitValues, Provenance
from builder.manifest.interpolate import Interpolator
from builder.manifest.model import ImageSpec, Manifest, Pos
from builder.manifest.yamlload import Node, Path_, dotted, load_yaml

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
NAME_RULE = "use letters, digits, '.', '_' and '-', starting with a letter or digit"
TEMPLATE_PREFIX = "."
_MATRIX_LISTS = ("exclude", "include")

Settings = Dict[str, Node]


def load(path, variables: Optional[Mapping[str, str]] = None, environ: Optional[Mapping[str, str]] = None,
         cwd=None, git: Optional[GitValues] = None) -> Manifest:
    """Read and validate the manifest at ``path`` (relative to ``cwd``); raise ManifestError.

    ``git`` gives ``${GIT_SHA}`` and the other builtin values (default: those of the work tree
    holding the manifest, read only when named).
    """
    display = os.fspath(path)
    file = Path(path)
    if not file.is_absolute():
        file = Path(cwd if cwd is not None else os.getcwd()) / file
    file = Path(os.path.normpath(file))
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ManifestError([Problem(display, 0, 0, "", "no such file; create it, or name the manifest "
                                                        "with -f PATH")]) from None
    except IsADirectoryError:
        raise ManifestError([Problem(display, 0, 0, "", "is a folder; name the manifest file itself "
                                                        "with -f PATH")]) from None
    except OSError as exc:
        raise ManifestError([Problem(display, 0, 0, "", f"cannot read the manifest: {exc.strerror}")]) from None
    root = load_yaml(data, display)
    env = os.environ if environ is None else environ
    if git is None:
        git = GitValues(file.parent, env)
    return _Resolver(root, file, display, dict(variables or {}), env, git).run()


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    return schema.did_you_mean(word, [c for c in candidates if c != word])


def _merge(base: Mapping[str, Node], over: Mapping[str, Node]) -> Settings:
    """``over`` on top of ``base``: mappings key by key (recursively), anything else replaced."""
    out = dict(base)
    for key, node in over.items():
        under = out.get(key)
        if under is not None and under.is_map and node.is_map:
            node = Node(_merge(under.value, node.value), node.pos, node.path, node.key_pos)
        out[key] = node
    return out


class _Entry:
    """An image before matrix expansion: a declared image or one of its variants."""

    __slots__ = ("name", "settings", "pos", "path", "declared", "variant_of")

    def __init__(self, name: str, settings: Settings, pos: Pos, path: Path_, declared: str,
                 variant_of: Optional[str]):
        self.name = name
        self.settings = settings
        self.pos = pos
        self.path = path
        self.declared = declared      # the name under images:, the default repository
        self.variant_of = variant_of


class _Resolver:
    def __init__(self, root: Node, file: Path, display: str, overrides: Dict[str, str],
                 environ: Mapping[str, str], git: GitValues):
        self.root = root
        self.file = file
        self.display = display
        self.folder = file.parent
        self.real_folder = file.parent.resolve()
        self.overrides = overrides
        self.environ = environ
        self.git = git
        self.problems: List[Problem] = []
        self.interp: Interpolator
        self.declared: Dict[str, Node] = {}          # every entry of images:, templates included
        self.broken: Set[str] = set()                # declared images the schema rejected
        self.images: Dict[str, ImageSpec] = {}
        self.made_by: Dict[str, str] = {}            # image name -> dotted path that made it
        self.matrix_groups: Dict[str, Tuple[str, ...]] = {}
        self.matrix_group_pos: Dict[str, Pos] = {}
        self.matrix_group_path: Dict[str, str] = {}
        self.depends: List[Tuple[str, Node]] = []    # every depends_on entry, as expanded
        self.tag_nodes: Dict[str, Dict[str, Node]] = {}  # image -> tag -> the entry that gave it

    # -- reporting -------------------------------------------------------------------------

    def report(self, node_or_pos, path, message: str) -> None:
        pos = node_or_pos.pos if isinstance(node_or_pos, Node) else node_or_pos
        where = dotted(path) if isinstance(path, tuple) else path
        self.problems.append(Problem(pos.file, pos.line, pos.col, where, message))

    def report_at_key(self, node: Node, message: str) -> None:
        self.report(node.key_pos or node.pos, node.path, message)

    # -- the whole file --------------------------------------------------------------------

    def run(self) -> Manifest:
        found = schema.validate(self.root)
        self.problems.extend(p for _, p in found)
        bad_paths = [path for path, _ in found]
        if any(not path or path[0] in ("variables", "defaults") or path == ("images",) for path in bad_paths):
            raise ManifestError(self.problems)  # nothing can be resolved soundly past these
        self.broken = {path[1] for path in bad_paths if len(path) > 1 and path[0] == "images"}
        bad_groups = {path[1] for path in bad_paths if len(path) > 1 and path[0] == "groups"}
        top = self.root.value

        file_variables = {name: node.scalar_text() for name, node in self._map(top.get("variables")).items()}
        self.interp = Interpolator(file_variables, self.environ, self.overrides, self.git)

        registry = None
        node = top.get("registry")
        if node is not None and ("registry",) not in bad_paths:
            registry = self.expand_checked(node) or None
            # A registry is a repository prefix: host[:port], optionally with a path below it.
            if registry and refs.validate_repository(registry.rstrip("/") + "/x"):
                self.report(node, node.path, f"invalid registry '{registry}': expected host[:port] and an "
                                             "optional path, e.g. localhost:5000/acme")

        defaults = self._map(top.get("defaults"))
        self.declared = self._map(top.get("images"))
        for name, node in self.declared.items():
            bare = name[len(TEMPLATE_PREFIX):] if name.startswith(TEMPLATE_PREFIX) else name
            if not NAME_RE.match(bare):
                self.report_at_key(node, f"invalid image name '{name}': {NAME_RULE}")
                self.broken.add(name)   # its name counts as declared; nothing else is checked

        resolved = self.resolve_extends(defaults)
        for name, node in self.declared.items():
            if name.startswith(TEMPLATE_PREFIX) or name not in resolved:
                continue
            for entry in self.variants(name, node, resolved[name]):
                self.expand_entry(entry)

        groups, group_pos = self.resolve_groups(self._map(top.get("groups")) if ("groups",) not in bad_paths
                                                else {}, bad_groups)
        self.check_depends_on(groups)
        self.check_references()

        if self.problems:
            raise ManifestError(self.problems)
        version = top["version"].value
        return Manifest(path=self.file, display_path=self.display, version=version, registry=registry,
                        variables=self.interp.resolved_variables(), images=self.images, groups=groups,
                        group_pos=group_pos, provenance=Provenance(self.interp.lookup, self.git))

    @staticmethod
    def _map(node: Optional[Node]) -> Dict[str, Node]:
        return node.value if node is not None and node.is_map else {}

    def expand(self, node: Node, matrix: Optional[Mapping[str, str]] = None, matrix_allowed: bool = True) -> str:
        """The scalar at ``node`` as a string, references expanded; failures are reported there."""
        if not isinstance(node.value, str):
            return node.scalar_text()
        text, errors = self.interp.expand(node.value, matrix, matrix_allowed)
        for message in errors:
            self.report(node, node.path, message)
        return text

    def expand_checked(self, node: Node, matrix: Optional[Mapping[str, str]] = None,
                       matrix_allowed: bool = True) -> Optional[str]:
        """Like ``expand``, but None when a reference failed (so no second error follows)."""
        before = len(self.problems)
        text = self.expand(node, matrix, matrix_allowed)
        return text if len(self.problems) == before else None

    # -- extends ---------------------------------------------------------------------------

    def resolve_extends(self, defaults: Settings) -> Dict[str, Settings]:
        """Each declared image's settings with defaults and its ``extends`` chain applied."""
        targets: Dict[str, Optional[str]] = {}
        for name, node in self.declared.items():
            target_node = node.get("extends") if name not in self.broken else None
            if target_node is None:
                targets[name] = None
                continue
            target = self.expand_checked(target_node, matrix_allowed=False)
            if target is None:
                targets[name] = None
                self.broken.add(name)
            elif target not in self.declared:
                if target.startswith(TEMPLATE_PREFIX):
                    known = [n for n in self.declared if n.startswith(TEMPLATE_PREFIX)]
                else:
                    known = list(self.declared)
                self.report(target_node, target_node.path,
                            f"unknown image '{target}' to extend" + _did_you_mean(target, known))
                targets[name] = None
                self.broken.add(name)   # without its parent's settings, any further error would mislead
            else:
                targets[name] = target

        resolved: Dict[str, Settings] = {}
        failed: Set[str] = set(self.broken)
        reported: Set[frozenset] = set()
        order = list(self.declared)
        for start in order:
            chain: List[str] = []
            name: Optional[str] = start
            while name is not None and name not in resolved and name not in failed and name not in chain:
                chain.append(name)
                name = targets[name]
            if name is not None and name in chain:           # a cycle
                cycle = chain[chain.index(name):]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    first = min(cycle, key=order.index)
                    k = cycle.index(first)
                    ring = cycle[k:] + cycle[:k] + [first]
                    at = self.declared[first].get("extends")
                    self.report(at, at.path, "extends cycle: " + " -> ".join(ring))
                failed.update(chain)
                continue
            for member in reversed(chain):
                target = targets[member]
                if target in failed:
                    failed.add(member)       # its parent is already reported
                    continue
                base = resolved[target] if target is not None else defaults
                own = {k: v for k, v in self.declared[member].value.items() if k != "extends"}
                resolved[member] = _merge(base, own)
        return resolved

    # -- variants --------------------------------------------------------------------------

    def variants(self, name: str, node: Node, settings: Settings) -> List[_Entry]:
        settings = dict(settings)
        variants_node = settings.pop("variants", None)
        pos = node.key_pos or node.pos
        entries = [_Entry(name, settings, pos, ("images", name), name, None)]
        for vname, vnode in self._map(variants_node).items():
            full = f"{name}-{vname}"
            if not NAME_RE.match(full):
                self.report_at_key(vnode, f"invalid variant name '{vname}': the image '{full}' needs a valid "
                                          f"name ({NAME_RULE})")
                continue
            entries.append(_Entry(full, _merge(settings, vnode.value), vnode.key_pos or vnode.pos, vnode.path,
                                  name, name))
        return entries

    # -- matrix ----------------------------------------------------------------------------

    def expand_entry(self, entry: _Entry) -> None:
        matrix_node = entry.settings.get("matrix")
        if matrix_node is None:
            name_node = entry.settings.get("name")
            if name_node is not None:
                self.report(name_node, name_node.path, "'name' names the cells of a matrix; this image has "
                                                       "no matrix: (remove name:, or add a matrix)")
            self.add_image(entry, entry.name, None)
            return
        if entry.name in self.made_by:
            self.report(entry.pos, dotted(entry.path), f"the matrix image '{entry.name}' would be the group of its "
                                                       f"cells, but {self.made_by[entry.name]} is an image of that "
                                                       "name")
            return
        cells = self.matrix_cells(matrix_node)
        if not cells:
            return
        keys = list(cells[0])
        name_node = entry.settings.get("name")
        names = []
        for cell in cells:
            if name_node is not None:
                cell_name = self.expand_checked(name_node, cell)
                if cell_name is None:
                    continue
                at = name_node
            else:
                cell_name = "-".join([entry.name] + [cell[k] for k in keys])
                at = matrix_node
            if not NAME_RE.match(cell_name):
                self.report(at, at.path, f"the matrix cell {_cell_text(cell)} is named '{cell_name}', which "
                                         f"is not a valid image name ({NAME_RULE}); name the cells with name:")
                continue
            names.append(cell_name)
            self.add_image(entry, cell_name, cell)
        self.matrix_groups[entry.name] = tuple(names)
        self.matrix_group_pos[entry.name] = entry.pos
        self.matrix_group_path[entry.name] = dotted(entry.path)

    def matrix_cells(self, node: Node) -> List[Dict[str, str]]:
        keys = [k for k in node.value if k not in _MATRIX_LISTS]
        if not keys:
            self.report(node, node.path, "a matrix needs at least one key with a list of values")
            return []
        values = [[self.expand(v, matrix_allowed=False) for v in node.value[k].value] for k in keys]
        cells = [dict(zip(keys, combo)) for combo in itertools.product(*values)]

        product = list(cells)
        exclude = node.get("exclude")
        for entry in exclude.value if exclude is not None else []:
            spec = self.matrix_entry(entry, keys, complete=False)
            if spec is None:
                continue
            if not any(_matches(c, spec) for c in product):
                self.report(entry, entry.path, f"this exclude entry ({_cell_text(spec)}) matches no cell of "
                                               "the matrix")
            cells = [c for c in cells if not _matches(c, spec)]
        include = node.get("include")
        for entry in include.value if include is not None else []:
            spec = self.matrix_entry(entry, keys, complete=True)
            if spec is not None:
                cell = {k: spec[k] for k in keys}
                if cell not in cells:
                    cells.append(cell)
        if not cells:
            self.report(node, node.path, "the matrix has no cells left: exclude removes every combination")
        return cells

    def matrix_entry(self, entry: Node, keys: List[str], complete: bool) -> Optional[Dict[str, str]]:
        ok = True
        spec: Dict[str, str] = {}
        for key, value in entry.value.items():
            if key not in keys:
                self.report_at_key(value, f"unknown matrix key '{key}'" + _did_you_mean(key, keys)
                                   + "; the matrix has " + ", ".join(keys))
                ok = False
            else:
                spec[key] = self.expand(value, matrix_allowed=False)
        if complete:
            for key in keys:
                if key not in spec:
                    self.report(entry, entry.path, f"this include entry has no value for matrix key '{key}'; "
                                                   "an included cell names a value for every key")
                    ok = False
        elif not entry.value:
            self.report(entry, entry.path, "an empty exclude entry would remove every cell")
            ok = False
        return spec if ok else None

    # -- one image -------------------------------------------------------------------------

    def add_image(self, entry: _Entry, name: str, cell: Optional[Dict[str, str]]) -> None:
        s = entry.settings
        path = dotted(entry.path)
        if name in self.made_by:
            self.report(entry.pos, path, f"duplicate image name '{name}' (also made by {self.made_by[name]})")
            return
        if name in self.matrix_groups:
            self.report(entry.pos, path, f"image name '{name}' is already the group of the matrix cells of "
                                         f"{self.matrix_group_path[name]}")
            return
        self.made_by[name] = path

        def text(key: str) -> Optional[str]:
            node = s.get(key)
            return self.expand(node, cell) if node is not None else None

        import_path = None
        ok = True
        context_node = s.get("context")
        if "import" in s:
            import_node = s["import"]
            import_text = self.expand_checked(import_node, cell)
            import_path = (self.folder / (import_text or ".")).resolve()
            if import_text is None:
                ok = False
            elif context_node is not None and context_node.path[:-1] == import_node.path[:-1]:
                # written side by side; a context inherited from defaults or a parent gives way
                self.report(import_node, import_node.path,
                            "an image has either context: (to build it) or import: (a tarball to import), not both")
                ok = False
            elif not import_path.exists():
                self.report(import_node, import_node.path, f"import file '{import_text}' does not exist")
                ok = False
            elif not import_path.is_file():
                self.report(import_node, import_node.path, f"import '{import_text}' is not a file")
                ok = False
            context = import_path.parent
            dockerfile = "Dockerfile"
        elif context_node is None:
            self.report(entry.pos, path, "missing 'context' (the build context folder, relative to the "
                                         "manifest) or 'import' (a tarball to import)")
            return
        else:
            context_text = self.expand_checked(context_node, cell)
            context = (self.folder / (context_text or ".")).resolve()
            dockerfile_node = s.get("dockerfile")
            dockerfile = self.expand_checked(dockerfile_node, cell) if dockerfile_node is not None else "Dockerfile"
            if context_text is None or dockerfile is None:
                ok = False
            elif context != self.real_folder and self.real_folder not in context.parents:
                self.report(context_node, context_node.path,
                            f"context '{context_text}' is outside the manifest's folder")
                ok = False
            elif not context.exists():
                self.report(context_node, context_node.path, f"context folder '{context_text}' does not exist")
                ok = False
            elif not context.is_dir():
                self.report(context_node, context_node.path, f"context '{context_text}' is not a folder")
                ok = False
            elif not (context / dockerfile).is_file():
                at = dockerfile_node or context_node
                self.report(at, at.path, f"Dockerfile '{dockerfile}' not found in context '{context_text}'")
                ok = False

        repository_node = s.get("repository")
        repository = self.expand_checked(repository_node, cell) if repository_node is not None else None
        if repository_node is not None and repository is None:
            ok = False
        elif repository is None:
            repository = entry.declared
            message = refs.validate_repository(repository)
            if message:
                self.report(entry.pos, path, f"{message} (an image's name is its default repository; "
                                             "set repository:)")
                ok = False
        else:
            message = refs.validate_repository(repository)
            if message:
                self.report(s["repository"], s["repository"].path, message)
                ok = False

        semver_node = s.get("semver")
        version, semver_tags = None, []
        if semver_node is not None:
            version, semver_tags, fine = self.semver_tags(semver_node, cell)
            ok = ok and fine

        tags_node = s.get("tags")
        given = self.tag_nodes.setdefault(name, {}) if tags_node is not None or semver_node is not None else {}
        if tags_node is not None:
            tags = []
            for item in tags_node.value:
                tag = self.expand_checked(item, cell)
                message = refs.validate_tag(tag) if tag is not None else None
                if tag is None:
                    ok = False
                elif message:
                    self.report(item, item.path, message)
                    ok = False
                elif tag not in tags:
                    tags.append(tag)
                    given[tag] = item
        elif semver_node is not None:
            tags = []   # the default tags would move `latest` for a pre-release
        elif cell is not None:
            tag = "-".join(cell.values())
            tags = [tag]
            message = refs.validate_tag(tag)
            if message:
                at = s["matrix"]
                self.report(at, at.path, f"{message} (a matrix cell's default tag joins its values; set tags:)")
                ok = False
        else:
            tags = ["latest"]
        for tag in semver_tags:
            if tag not in tags:
                tags.append(tag)
                given[tag] = semver_node
        if not tags and ok:
            self.report(semver_node, semver_node.path,
                        "no tags: semver: is empty here (no tag at this commit?) and the image has no tags: of "
                        "its own; add tags: (e.g. [\"${GIT_SHORT_SHA}\"]) or a default (${GIT_TAG:-...})")
            ok = False

        args = {k: self.expand(v, cell) for k, v in self._map(s.get("args")).items()}
        labels = {k: self.expand(v, cell) for k, v in self._map(s.get("labels")).items()}
        depends: List[str] = []
        for item in s["depends_on"].value if "depends_on" in s else []:
            dep = self.expand(item, cell)
            self.depends.append((dep, item))
            if dep not in depends:
                depends.append(dep)
        pull = s.get("pull")

        if not ok:
            return
        self.images[name] = ImageSpec(
            name=name,
            context=context,
            dockerfile=dockerfile,
            repository=repository,
            tags=tuple(tags),
            args=args,
            labels=labels,
            target=text("target"),
            platform=text("platform"),
            pull=bool(pull.value) if pull is not None else False,
            depends_on=tuple(depends),
            import_path=import_path,
            matrix=dict(cell or {}),
            matrix_group=entry.name if cell is not None else None,
            variant_of=entry.variant_of,
            version=version,
            pos=entry.pos,
            key_pos={k: v.pos for k, v in s.items()},
            path=path,
            key_path={k: v.dotted for k, v in s.items()},
        )

    def semver_tags(self, node: Node, cell: Optional[Dict[str, str]]) -> Tuple[Optional[str], List[str], bool]:
        """(version, the tags ``semver:`` adds, fine?); problems are reported at ``node``."""
        from builder.manifest import semver  # few manifests name a version

        text = self.expand_checked(node, cell)
        if text is None:
            return None, [], False
        if not text.strip():
            return None, [], True      # no tag at this commit: nothing to add
        version = semver.parse(text)
        if version is None:
            self.report(node, node.path, f"invalid semver '{text}': {semver.EXPECTED}")
            return None, [], False
        known: list = []
        if version.is_release:
            try:
                known = self.git.release_tags()
            except GitUnavailable as exc:
                self.report(node, node.path, f"semver '{text}' needs the repository's git tags to tell whether "
                                             f"it is the highest release: {exc}")
                return None, [], False
        tags = semver.expand(version, known)
        for tag in tags:
            message = refs.validate_tag(tag)
            if message:
                self.report(node, node.path, f"semver '{text}': {message}")
                return None, [], False
        return version.text, tags, True

    # -- cross-references ------------------------------------------------------------------

    def _known(self) -> Dict[str, str]:
        """Every name a selector, group or depends_on may use -> what it is."""
        known = {n: "image" for n in self.made_by}
        known.update({n: "image" for n in self.broken if not n.startswith(TEMPLATE_PREFIX)})
        known.update({n: "group" for n in self.matrix_groups})
        return known

    def _unknown(self, name: str, node: Node, known: Iterable[str]) -> None:
        if name.startswith(TEMPLATE_PREFIX) and name in self.declared:
            message = f"'{name}' is a template (its name starts with '{TEMPLATE_PREFIX}'), not an image"
        else:
            message = f"unknown image or group '{name}'" + _did_you_mean(name, known)
        self.report(node, node.path, message)

    def resolve_groups(self, declared: Dict[str, Node], bad: Set[str]):
        known = self._known()
        for name, node in declared.items():
            if not NAME_RE.match(name):
                self.report_at_key(node, f"invalid group name '{name}': {NAME_RULE}")
            elif known.get(name) == "image":
                self.report_at_key(node, f"group '{name}' has the same name as an image")
            elif name in self.matrix_groups:
                self.report_at_key(node, f"group '{name}' has the same name as the matrix image '{name}', "
                                         "which is already a group of its cells")
        names = dict(known)
        names.update({n: "group" for n in declared})

        members: Dict[str, List[Tuple[str, Node]]] = {}
        for name, node in declared.items():
            if name in bad:
                continue
            members[name] = []
            for item in node.value:
                member = item.value
                if member not in names:
                    self._unknown(member, item, names)
                else:
                    members[name].append((member, item))

        expanded: Dict[str, Tuple[str, ...]] = {}
        reported: Set[frozenset] = set()

        def expand(group: str, stack: List[str]) -> Tuple[str, ...]:
            if group in expanded:
                return expanded[group]
            out: List[str] = []
            for member, item in members.get(group, []):
                if member in self.images:
                    found: Iterable[str] = (member,)
                elif member in self.matrix_groups:
                    found = self.matrix_groups[member]
                elif member in members:
                    if member in stack:
                        cycle = stack[stack.index(member):] + [member]
                        if frozenset(cycle) not in reported:
                            reported.add(frozenset(cycle))
                            self.report(item, item.path, "group cycle: " + " -> ".join(cycle))
                        found = ()
                    else:
                        found = expand(member, stack + [member])
                else:
                    found = ()      # a broken image or group, already reported
                out.extend(n for n in found if n not in out)
            expanded[group] = tuple(out)
            return expanded[group]

        groups: Dict[str, Tuple[str, ...]] = {}
        group_pos: Dict[str, Pos] = {}
        for name, node in declared.items():
            groups[name] = expand(name, [name])
            group_pos[name] = node.key_pos or node.pos
        for name, cells in self.matrix_groups.items():
            if name not in groups:
                groups[name] = cells
                group_pos[name] = self.matrix_group_pos[name]
        if "default" not in groups:
            groups["default"] = tuple(self.images)
        return groups, group_pos

    def check_depends_on(self, groups: Mapping[str, Tuple[str, ...]]) -> None:
        known = set(self._known()) | set(groups)
        for dep, node in self.depends:
            if dep not in known:
                self._unknown(dep, node, known)

    def check_references(self) -> None:
        """The same ``repository:tag`` from two images would make one overwrite the other."""
        owner: Dict[str, str] = {}
        for image in self.images.values():
            for tag in image.tags:
                ref = refs.normalize(f"{image.repository}:{tag}")
                first = owner.setdefault(ref, image.name)
                if first == image.name:
                    continue
                node = self.tag_nodes.get(image.name, {}).get(tag)
                if node is not None:
                    pos, path = node.pos, node.path
                elif "repository" in image.key_pos:
                    pos, path = image.key_pos["repository"], image.key_path["repository"]
                else:
                    pos, path = image.pos, image.path
                other = self.images[first]
                if image.matrix_group and image.matrix_group == other.matrix_group:
                    hint = " (use ${matrix.KEY} in tags: to tell the cells of a matrix apart)"
                elif node is None:
                    hint = f" ('{image.name}' has no tags: of its own)"
                else:
                    hint = ""
                self.report(pos, path, f"'{image.repository}:{tag}' is produced by both '{first}' and "
                                       f"'{image.name}'{hint}")


def _matches(cell: Mapping[str, str], spec: Mapping[str, str]) -> bool:
    return all(cell[k] == v for k, v in spec.items())


def _cell_text(cell: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in cell.items()) + "}"
