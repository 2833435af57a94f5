"""The manifest's JSON Schema (shipped as schema.json) and structural validation with it.

jsonschema's own messages name schema internals ("'x' is not of type 'object'"); each error
is turned here into a sentence about the manifest, placed at the YAML node it is about.
"""
from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from builder.errors import Problem
from builder.manifest.yamlload import Node, Path_, describe, dotted, find

_SCHEMA_FILE = Path(__file__).with_name("schema.json")

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


@functools.lru_cache(maxsize=None)
def _schema_text() -> str:
    return _SCHEMA_FILE.read_text(encoding="utf-8")


def load_schema() -> dict:
    """The manifest's JSON Schema, as a fresh dict (callers may change it)."""
    return json.loads(_schema_text())


@functools.lru_cache(maxsize=None)
def _validator():
    # Imported here: jsonschema costs tens of milliseconds, and only loading a manifest needs it.
    from jsonschema.validators import Draft202012Validator

    # The schema is checked by a unit test, not on every run. Its "$ref"s are inlined first:
    # resolving them through `referencing` on every use costs more than all other checks.
    schema = load_schema()
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))


def _inline_refs(value, defs: dict):
    """``value`` with every local ``{"$ref": "#/$defs/NAME"}`` replaced by the definition."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(value) == 1:
            return _inline_refs(defs[ref[len("#/$defs/"):]], defs)
        return {k: _inline_refs(v, defs) for k, v in value.items()}
    if isinstance(value, list):
        return [_inline_refs(v, defs) for v in value]
    return value


@functools.lru_cache(maxsize=None)
def image_keys() -> Tuple[str, ...]:
    """Every key an image may have, in the schema's order."""
    return tuple(load_schema()["$defs"]["image"]["properties"])


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'tags'?)`` or the empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _expected(types) -> str:
    if isinstance(types, str):
        return _TYPE_NAMES.get(types, types)
    names = ["a boolean" if t == "boolean" else _TYPE_NAMES.get(t, t) for t in types]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def validate(root: Node) -> List[Tuple[Path_, Problem]]:
    """Structural problems of the document, each with the path it is about.

    A document that passed once is remembered by a hash of its values and of the schema, so
    an unchanged manifest costs neither the jsonschema import nor the validation again.
    """
    document = root.plain()
    marker = _valid_marker(document)
    if marker is not None and marker.exists():
        return []
    found: List[Tuple[Path_, Problem]] = []
    for error in _validator().iter_errors(document):
        found.extend(_problems(root, error))
    if not found and marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only cache only costs time
    return found


def _valid_marker(document):
    import hashlib

    from builder.cachedir import cache_home

    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256((_schema_text() + "\0" + text).encode()).hexdigest()
    return cache_home() / "valid" / digest[:2] / digest[2:40]


def _at(node: Node, path: Path_, message: str, key: bool = False) -> Tuple[Path_, Problem]:
    pos = node.key_pos if key and node.key_pos is not None else node.pos
    return path, Problem(pos.file, pos.line, pos.col, dotted(path), message)


def _problems(root: Node, error) -> List[Tuple[Path_, Problem]]:
    path: Path_ = tuple(error.absolute_path)
    node, path = find(root, path)
    kind = error.validator
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}

    if "propertyNames" in error.relative_schema_path:
        # The error is about a key of the mapping at `path`; jsonschema gives the key as instance.
        child = node.get(instance) if isinstance(instance, str) else None
        where = child if child is not None else node
        about = path + (instance,) if child is not None else path
        expected = schema.get("description", "a valid name")
        return [_at(where, about, f"invalid name {instance!r}: expected {expected}", key=True)]

    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        out = []
        for key, child in node.value.items():
            if key in allowed:
                continue
            if key in image_keys() and schema.get("title"):
                message = f"'{key}' cannot be set in {schema['title']}"
            else:
                message = f"unknown key '{key}'" + did_you_mean(key, allowed)
            out.append(_at(child, path + (key,), message, key=True))
        return out
    if kind == "type":
        return [_at(node, path, f"expected {_expected(error.validator_value)}, got {describe(instance)}")]
    if kind == "required":
        return [_at(node, path, f"missing required key '{key}'")
                for key in error.validator_value if key not in instance]
    if kind == "const":
        if isinstance(instance, (int, float)) and not isinstance(instance, bool):
            return [_at(node, path, f"unsupported version {node.scalar_text()}; "
                                    f"this release reads version {error.validator_value}")]
        return [_at(node, path, f"expected the number {error.validator_value}, got {describe(instance)}")]
    if kind == "minItems":
        return [_at(node, path, "must not be an empty list")]
    if kind == "minProperties":
        return [_at(node, path, "must not be an empty mapping")]
    if kind == "minLength":
        return [_at(node, path, "must not be an empty string")]
    if kind == "uniqueItems":
        seen: Dict[str, int] = {}
        for i, item in enumerate(node.value):
            text = item.scalar_text() if not isinstance(item.value, (dict, list)) else repr(item.plain())
            if text in seen:
                return [_at(item, path + (i,), f"{text!r} is listed twice (first at [{seen[text]}])")]
            seen[text] = i
        return [_at(node, path, "lists a value twice")]
    # Not produced by our schema today; keep jsonschema's words rather than lose the error.
    return [_at(node, path, error.message)]
