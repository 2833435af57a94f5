"""YAML text -> a tree of ``Node`` values that remember where they were written.

PyYAML's safe loader composes the document (every node keeps its start mark); we then
construct plain values ourselves instead of letting a constructor do it, so that:

- every value, and every mapping key, keeps its line and column for error messages;
- a tag outside plain YAML (``!!python/object:...``, ``!custom``) is reported, never constructed;
- a key written twice in one mapping is an error instead of the last one silently winning;
- a number keeps the text it was written as (``1.10`` stays ``"1.10"`` where a string is meant).
"""
from __future__ import annotations

import json
import re
from typing import Dict, List, Optional, Tuple, Union

import yaml

from builder.errors import ManifestError, Problem
from builder.manifest.model import Pos

try:  # libyaml composes an order of magnitude faster than the pure-Python parser
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PathKey = Union[str, int]
Path_ = Tuple[PathKey, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"
# Scalars that plain YAML produces. A timestamp or '=' value is kept as the text written:
# the manifest has no use for dates, and `tags: [2024-01-31]` means the string.
_TEXT_TAGS = {_STR, _TAG + "timestamp", _TAG + "value"}

_MAX_NODES = 200_000   # a few thousand is a large manifest; this stops alias bombs early
_MAX_DEPTH = 64        # the format nests about six levels deep

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

_bool_values = yaml.constructor.SafeConstructor.bool_values
_scalar_constructor = yaml.constructor.SafeConstructor()


class Node:
    """One value of the document.

    ``value`` is a ``dict`` of str -> Node, a ``list`` of Node, or a plain scalar (str, int,
    float, bool, None). ``path`` is where the value was written (``("images", "api", "tags", 0)``),
    which stays true when the node is later shared by defaults, ``extends`` or variants.
    ``key_pos`` is the position of the mapping key that holds this value, if any. ``text`` is
    the scalar as written (``1.10`` for the float 1.1).
    """

    __slots__ = ("value", "pos", "path", "key_pos", "text")

    def __init__(self, value, pos: Pos, path: Path_, key_pos: Optional[Pos] = None,
                 text: Optional[str] = None):
        self.value = value
        self.pos = pos
        self.path = path
        self.key_pos = key_pos
        self.text = text

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Node({self.value!r} @ {self.pos})"

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def dotted(self) -> str:
        return dotted(self.path)

    def get(self, key: str) -> Optional["Node"]:
        return self.value.get(key) if isinstance(self.value, dict) else None

    def scalar_text(self) -> str:
        """The scalar as a string: strings as they are, numbers and booleans as written."""
        if isinstance(self.value, str):
            return self.value
        return self.text if self.text is not None else str(self.value)

    def plain(self):
        """The value with all positions stripped: what JSON Schema validates."""
        v = self.value
        if isinstance(v, dict):
            return {k: n.plain() for k, n in v.items()}
        if isinstance(v, list):
            return [n.plain() for n in v]
        return v


def dotted(path: Path_) -> str:
    """``("images", "api", "tags", 0)`` -> ``images.api.tags[0]``.

    Keys that are not plain words (label names such as ``org.opencontainers.image.vendor``)
    are quoted so the path stays unambiguous: ``images.api.labels["org.example.x"]``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def find(root: Node, path: Path_) -> Tuple[Node, Path_]:
    """The deepest node along ``path`` and the part of the path it answers."""
    node, done = root, ()
    for part in path:
        v = node.value
        if isinstance(v, dict) and isinstance(part, str) and part in v:
            node = v[part]
        elif isinstance(v, list) and isinstance(part, int) and 0 <= part < len(v):
            node = v[part]
        else:
            break
        done += (part,)
    return node, done


def _pos(display: str, mark) -> Pos:
    return Pos(display, mark.line + 1, mark.column + 1)


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _line_col(text: str, index: int) -> Tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def decode(data: bytes, display: str) -> str:
    """UTF-8 bytes -> text, or a ManifestError naming the first byte that is not UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[:exc.start].decode("utf-8")
        line, col = _line_col(good, len(good))
        bad = data[exc.start:exc.start + 1].hex()
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ManifestError([Problem(display, line, col, "",
                                     f"the file is not UTF-8: byte 0x{bad} cannot start a character here"
                                     f"{hint}; save it as UTF-8")]) from None


def _syntax_problem(exc: yaml.YAMLError, text: str, display: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):
        index = exc.position
        line, col = _line_col(text, min(index, len(text)))
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return Problem(display, line, col, "", f"invalid YAML: character #x{char:04x} is not allowed in YAML")
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    cmark = getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.composer.ComposerError) and context == "expected a single document in the stream":
        message = "invalid YAML: the file holds more than one document ('---'); a manifest is one document"
    else:
        message = f"invalid YAML: {problem}"
        if context and cmark is not None and (cmark.line, cmark.column) != (mark.line, mark.column):
            message += f" ({context} at line {cmark.line + 1}, column {cmark.column + 1})"
        elif context:
            message += f" ({context})"
    if mark is None:
        return Problem(display, 0, 0, "", message)
    lines = text.split("\n")
    line = lines[mark.line] if mark.line < len(lines) else ""
    if "\t" in line[:mark.column + 1] and not line[:mark.column].strip(" \t"):
        message += "; YAML is indented with spaces, not tabs"
    return Problem(display, mark.line + 1, mark.column + 1, "", message)


class _Builder:
    def __init__(self, display: str):
        self.display = display
        self.problems: List[Problem] = []
        self.count = 0
        self.active: set = set()   # collection nodes being constructed: a repeat is a recursive alias

    def problem(self, mark, path: Path_, message: str) -> None:
        p = _pos(self.display, mark)
        self.problems.append(Problem(p.file, p.line, p.col, dotted(path), message))

    def build(self, node: yaml.Node, path: Path_, key_pos: Optional[Pos] = None, depth: int = 0) -> Node:
        self.count += 1
        if self.count > _MAX_NODES:
            raise ManifestError([Problem(self.display, 0, 0, "",
                                         f"the document expands to more than {_MAX_NODES} values "
                                         "(aliases of aliases?)")])
        pos = _pos(self.display, node.start_mark)
        if depth > _MAX_DEPTH:
            self.problem(node.start_mark, path, f"nested more than {_MAX_DEPTH} levels deep")
            return Node(None, pos, path, key_pos)
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, tag, pos, path, key_pos)
        if tag not in (_MAP, _SEQ):
            self.problem(node.start_mark, path, f"unsupported YAML tag '{_tag_name(tag)}'; "
                                                "the manifest holds plain values only (it is never executed)")
            return Node(None, pos, path, key_pos)
        if id(node) in self.active:
            self.problem(node.start_mark, path, "an alias refers to a node that contains it")
            return Node(None, pos, path, key_pos)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                items = [self.build(child, path + (i,), None, depth + 1) for i, child in enumerate(node.value)]
                return Node(items, pos, path, key_pos)
            return Node(self.mapping(node, path, depth), pos, path, key_pos)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode, tag: str, pos: Pos, path: Path_, key_pos: Optional[Pos]) -> Node:
        text = node.value
        if tag in _TEXT_TAGS:
            return Node(text, pos, path, key_pos, text)
        if tag == _NULL:
            return Node(None, pos, path, key_pos, text)
        if tag == _BOOL and text.lower() in _bool_values:
            return Node(_bool_values[text.lower()], pos, path, key_pos, text)
        try:
            if tag == _INT:
                return Node(_scalar_constructor.construct_yaml_int(node), pos, path, key_pos, text)
            if tag == _FLOAT:
                return Node(_scalar_constructor.construct_yaml_float(node), pos, path, key_pos, text)
        except (ValueError, yaml.YAMLError):
            self.problem(node.start_mark, path, f"{text!r} is not a valid {_tag_name(tag)}")
            return Node(None, pos, path, key_pos, text)
        self.problem(node.start_mark, path, f"unsupported YAML tag '{_tag_name(tag)}'; "
                                            "the manifest holds plain values only (it is never executed)")
        return Node(None, pos, path, key_pos, text)

    def key_text(self, key: yaml.Node, path: Path_) -> Optional[str]:
        if not isinstance(key, yaml.ScalarNode):
            self.problem(key.start_mark, path, "a mapping key must be a plain name, not a list or mapping")
            return None
        if key.tag not in _TEXT_TAGS | {_NULL, _BOOL, _INT, _FLOAT}:
            self.problem(key.start_mark, path, f"unsupported YAML tag '{_tag_name(key.tag)}'; "
                                               "the manifest holds plain values only (it is never executed)")
            return None
        return key.value   # keys are names: `on:` and `1.0:` mean the text written

    def merge_sources(self, node: yaml.MappingNode, path: Path_) -> List[yaml.MappingNode]:
        """The mappings named by this mapping's `<<` keys (YAML's merge key), in order."""
        sources: List[yaml.MappingNode] = []
        for key, value in node.value:
            if key.tag != _MERGE:
                continue
            for source in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                if isinstance(source, yaml.MappingNode):
                    sources.append(source)
                else:
                    self.problem(source.start_mark, path + ("<<",),
                                 "'<<' merges a mapping (or a list of mappings) only")
        return sources

    def merged_pairs(self, node: yaml.MappingNode, path: Path_, seen: frozenset) -> List[Tuple[yaml.Node, yaml.Node]]:
        """The entries a merged mapping brings in: its own keys first, then those it merges."""
        if id(node) in seen:
            return []
        seen = seen | {id(node)}
        pairs = [(k, v) for k, v in node.value if k.tag != _MERGE]
        for source in self.merge_sources(node, path):
            pairs.extend(self.merged_pairs(source, path, seen))
        return pairs

    def mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> Dict[str, Node]:
        result: Dict[str, Node] = {}
        first_at: Dict[str, Pos] = {}
        for key, value in node.value:
            if key.tag == _MERGE:
                continue
            name = self.key_text(key, path)
            if name is None:
                continue
            key_pos = _pos(self.display, key.start_mark)
            if name in first_at:
                first = first_at[name]
                self.problem(key.start_mark, path + (name,),
                             f"duplicate key '{name}' (first written at line {first.line}, column {first.col})")
                continue
            first_at[name] = key_pos
            result[name] = self.build(value, path + (name,), key_pos, depth + 1)
        # Explicit keys win over merged ones; among merged mappings the first one listed wins.
        for source in self.merge_sources(node, path):
            for key, value in self.merged_pairs(source, path, frozenset({id(node)})):
                name = self.key_text(key, path)
                if name is None or name in result:
                    continue
                result[name] = self.build(value, path + (name,), _pos(self.display, key.start_mark), depth + 1)
        return result


def compose(text: str, display: str) -> Optional[yaml.Node]:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ManifestError([_syntax_problem(exc, text, display)]) from None
    finally:
        loader.dispose()


def load_yaml(data: bytes, display: str) -> Node:
    """Bytes of a manifest -> its top-level mapping as a Node, or ManifestError.

    Problems found here (not UTF-8, a syntax error, an empty file, a top level that is not a
    mapping, an unsupported tag, a duplicate key) are reported before any other check, since
    the checks after this one need a sound tree.
    """
    text = decode(data, display)
    node = compose(text, display)
    empty = Problem(display, 0, 0, "", "the file is empty; a manifest is a mapping that starts with "
                                       "'version: 1' and declares 'images:'")
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL and node.value == ""):
        raise ManifestError([empty])
    builder = _Builder(display)
    root = builder.build(node, ())
    if builder.problems:
        raise ManifestError(builder.problems)
    if not root.is_map:
        raise ManifestError([Problem(display, root.pos.line, root.pos.col, "",
                                     f"the top level must be a mapping (version:, images:, ...), "
                                     f"got {describe(root.value)}")])
    return root


def describe(value) -> str:
    """How a value's type is named in messages."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if value is None:
        return "null"
    return f"a string ({value!r})" if len(value) <= 40 else "a string"
