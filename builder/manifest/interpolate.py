"""``${VAR}``, ``${VAR:-default}``, ``$$`` and ``${matrix.KEY}`` in manifest strings.

A variable resolves, in rising precedence, from the builtin values (``${GIT_SHA}``, ``${DATE}``...,
read only when named; see ``gitvalues``), the manifest's ``variables:``, an environment variable
of the same name, and ``--var NAME=VALUE``. Any environment variable may be named,
as in compose files. ``${NAME:-default}`` uses the default when NAME is unset or empty; the
default may itself hold references. ``$$`` is a literal ``$``; a ``$`` followed by anything
else than ``{`` or ``$`` is kept as written.
"""
from __future__ import annotations

import difflib
import re
from typing import List, Mapping, Optional, Tuple

from builder.manifest.gitvalues import BUILTIN_NAMES, GitUnavailable

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MATRIX_PREFIX = "matrix."


def _close(word: str, candidates) -> Optional[str]:
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


class Interpolator:
    """Expands references in strings; collects a message for each one it cannot expand."""

    def __init__(self, file_variables: Mapping[str, str], environ: Mapping[str, str],
                 overrides: Mapping[str, str], builtins=None):
        self.file_variables = dict(file_variables)
        self.environ = environ
        self.overrides = dict(overrides)
        self.builtins = builtins                 # a GitValues, or None for no builtin values

    def lookup(self, name: str) -> Optional[str]:
        """The value of ``name``; a builtin one may raise ``GitUnavailable``."""
        if name in self.overrides:
            return self.overrides[name]
        if name in self.environ:
            return self.environ[name]
        if name in self.file_variables:
            return self.file_variables[name]
        if self.builtins is not None and name in BUILTIN_NAMES:
            return self.builtins.value(name)
        return None

    def resolved_variables(self) -> dict:
        """The manifest's variables and the --var ones, each with the value that wins."""
        names = list(self.file_variables) + [n for n in self.overrides if n not in self.file_variables]
        return {n: self.lookup(n) for n in names}

    def expand(self, text: str, matrix: Optional[Mapping[str, str]] = None,
               matrix_allowed: bool = True) -> Tuple[str, List[str]]:
        """``text`` with every reference replaced, and the messages for those that failed.

        ``matrix`` holds the cell's values, or is None for an image without a matrix.
        ``matrix_allowed=False`` where ``${matrix.KEY}`` cannot have a meaning (matrix values).
        """
        if "$" not in text:
            return text, []
        errors: List[str] = []
        out = self._expand(text, matrix, matrix_allowed, errors)
        return out, errors

    def _expand(self, text: str, matrix, matrix_allowed: bool, errors: List[str]) -> str:
        out: List[str] = []
        i = 0
        n = len(text)
        while i < n:
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            following = text[j + 1:j + 2]
            if following == "$":
                out.append("$")
                i = j + 2
                continue
            if following != "{":
                out.append("$")
                i = j + 1
                continue
            end = _closing_brace(text, j + 2)
            if end < 0:
                errors.append(f"unterminated '${{' in {text!r}: add the closing '}}' (write $$ for a literal $)")
                out.append(text[j:])
                break
            out.append(self._reference(text[j + 2:end], matrix, matrix_allowed, errors))
            i = end + 1
        return "".join(out)

    def _reference(self, inner: str, matrix, matrix_allowed: bool, errors: List[str]) -> str:
        name, sep, default = inner.partition(":-")
        whole = "${" + inner + "}"
        if name.startswith(_MATRIX_PREFIX):
            key = name[len(_MATRIX_PREFIX):]
            if not _NAME.match(key):
                errors.append(f"invalid reference '{whole}': expected ${{matrix.KEY}}")
                return ""
            if not matrix_allowed:
                errors.append(f"'{whole}' cannot be used here: matrix values and names of images to "
                              "extend are read before the matrix is expanded")
                return ""
            value = matrix.get(key) if matrix is not None else None
            if value is None and not sep:
                if matrix is None:
                    errors.append(f"'{whole}' is used in an image without a matrix")
                else:
                    hint = _close(key, matrix)
                    mean = f" (did you mean 'matrix.{hint}'?)" if hint else ""
                    errors.append(f"unknown matrix key '{key}'{mean}; this image's matrix has "
                                  + ", ".join(matrix))
                return ""
        else:
            if not _NAME.match(name):
                errors.append(f"invalid reference '{whole}': a variable name is letters, digits and '_' "
                              "(write $$ for a literal $)")
                return ""
            try:
                value = self.lookup(name)
            except GitUnavailable as exc:
                if not sep:     # ${GIT_TAG:-dev} means "dev" wherever git cannot answer
                    errors.append(f"'{whole}' needs git: {exc} (or set {name} with --var {name}=...)")
                    return ""
                value = None
            if value is None and not sep:
                errors.append(self._undefined(name))
                return ""
        if sep and not value:
            return self._expand(default, matrix, matrix_allowed, errors)
        return value or ""

    def _undefined(self, name: str) -> str:
        known = list(self.file_variables) + list(self.overrides)
        if self.builtins is not None:
            known += list(BUILTIN_NAMES)
        hint = _close(name, known) or _close(name, self.environ)
        mean = f" (did you mean '{hint}'?)" if hint else ""
        return (f"undefined variable '{name}'{mean}; define it under variables:, in the environment, "
                f"or with --var {name}=...")


def _closing_brace(text: str, start: int) -> int:
    """Index of the '}' that closes a '${' whose body starts at ``start``; -1 if none."""
    depth = 0
    k = start
    n = len(text)
    while k < n:
        c = text[k]
        if c == "$" and text[k + 1:k + 2] in ("{", "$"):
            if text[k + 1] == "{":
                depth += 1
            k += 2
            continue
        if c == "}":
            if depth == 0:
                return k
            depth -= 1
        k += 1
    return -1
