"""The build context: the files the engine receives, their digest, and the tar we stream.

The rules are the docker CLI's and moby's, not docker-py's (whose ``exclude_paths`` folds case,
treats a leading ``**`` differently, reads ``[!...]`` and ``[^...]`` the other way round, ignores
``\\`` escapes and writes the whole tar to a temporary file):

* ``.dockerignore`` is read as ``moby/patternmatcher/ignorefile.ReadAll`` reads it: a UTF-8 BOM
  is dropped; a line whose first character is ``#`` is a comment (``  #x`` is a pattern);
  whitespace is trimmed; ``!`` marks an exception; each pattern is ``filepath.Clean``-ed and one
  leading ``/`` is dropped (so ``/a``, ``./a`` and ``a/`` all mean ``a``).
* Patterns follow ``patternmatcher``: ``*`` and ``?`` never match ``/``, ``**`` matches any
  number of directories, ``[...]`` is a class with ``^`` (not ``!``) negating it, ``\\`` escapes
  the next character, the last matching pattern wins and a path is excluded when it or one of
  its parent directories matches. A pattern ``filepath.Match`` or Go's regexp compiler rejects
  is an error (upstream only fails once the pattern is first tried; we fail up front).
  Upstream turns wildcard patterns into Go regexps, and so do we, quirks included: a negated
  class can match '/', ``|``, ``{`` and ``}`` reach the regexp unescaped (alternation,
  repetition), and ``\\d`` is a digit class, not an escaped ``d``.
* The walk is the CLI's ``archive.TarWithOptions``: an excluded directory is skipped whole
  unless an exception pattern, read as text, starts with that directory's path; in that case the
  directory is entered (without an entry of its own) so the exception can re-include files.
* ``.dockerignore`` and the Dockerfile are always sent: like the CLI we append ``!.dockerignore``
  and ``!<dockerfile>`` when they would be excluded, which also keeps their directories open.

Only regular files, directories and symbolic links are sent (symbolic links are never followed);
sockets, pipes and devices are left out.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import posixpath
import re
import stat
import tarfile
import tempfile
import threading
import time
from itertools import chain
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from builder.errors import ImagesError

__all__ = ["ContextDigest", "ContextEntry", "ContextError", "IgnoreRules", "StatCache",
           "context_digest", "context_entries", "stream_context_tar"]

log = logging.getLogger(__name__)

_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                      "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


class ContextError(ImagesError):
    """The context cannot be read or sent: a bad ``.dockerignore`` pattern, an unreadable file.

    Exit code 2 when met while planning (the inputs are wrong); a build that meets one while
    sending fails like any other build (exit 1).
    """

    exit_code = 2

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _go_trim(s: str) -> str:
    i, j = 0, len(s)
    while i < j and s[i] in _GO_SPACE:
        i += 1
    while j > i and s[j - 1] in _GO_SPACE:
        j -= 1
    return s[i:j]


def go_clean(path: str) -> str:
    """``path/filepath.Clean`` for '/'-separated paths."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: List[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(comp)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


# --------------------------------------------------------------------------------------------
# filepath.Match's syntax check, which patternmatcher.New runs on every pattern.

class _BadPattern(Exception):
    pass


def _scan_chunk(pattern: str) -> Tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    inrange = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            inrange = True
        elif c == "]":
            inrange = False
        elif c == "*" and not inrange:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> str:
    if not chunk or chunk[0] in "-]":
        raise _BadPattern()
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern()
    chunk = chunk[1:]
    if not chunk:
        raise _BadPattern()
    return chunk


def _check_chunk(chunk: str) -> None:
    while chunk:
        c = chunk[0]
        if c == "[":
            chunk = chunk[1:]
            if chunk.startswith("^"):
                chunk = chunk[1:]
            nrange = 0
            while True:
                if chunk.startswith("]") and nrange > 0:
                    chunk = chunk[1:]
                    break
                chunk = _get_esc(chunk)
                if chunk[0] == "-":
                    chunk = _get_esc(chunk[1:])
                nrange += 1
        elif c == "\\":
            chunk = chunk[1:]
            if not chunk:
                raise _BadPattern()
            chunk = chunk[1:]
        else:
            chunk = chunk[1:]


def _check_match_syntax(pattern: str) -> bool:
    """True when ``filepath.Match(pattern, ".")`` would not report ErrBadPattern."""
    try:
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _check_chunk(chunk)
    except _BadPattern:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Go RE2 syntax -> Python re, for the regexps patternmatcher generates. The generated text can
# hold user-written classes and escapes, which RE2 and Python read differently (POSIX classes,
# '[' inside a class, octal escapes, '$'), so it is parsed as RE2 and rewritten explicitly.

_MAXRUNE = 0x10FFFF
_ASCII_CLASSES: Dict[str, List[Tuple[int, int]]] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_PERL_CLASSES = {"d": _ASCII_CLASSES["digit"],
                 "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],
                 "w": _ASCII_CLASSES["word"]}


_CATEGORY_CACHE: Dict[str, List[Tuple[int, int]]] = {}
_GENERAL_CATEGORIES = {"C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me",
                       "Mn", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S",
                       "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs"}


def _unicode_category(name: str, parser: "_Re2") -> List[Tuple[int, int]]:
    """Ranges of a Unicode general category as Go's tables define it (Go's C leaves out Cn)."""
    if name == "Any":
        return [(0, _MAXRUNE)]
    if name not in _GENERAL_CATEGORIES:
        # Go also knows script names (\p{Greek}); Python's unicodedata does not.
        raise parser.error(f"Unicode class \\p{{{name}}} is not supported")
    if name not in _CATEGORY_CACHE:
        import unicodedata
        ranges: List[Tuple[int, int]] = []
        start = -1
        for cp in range(_MAXRUNE + 2):
            cat = unicodedata.category(chr(cp)) if cp <= _MAXRUNE else ""
            inside = cat != "Cn" and (cat == name or (len(name) == 1 and cat[:1] == name))
            if inside and start < 0:
                start = cp
            elif not inside and start >= 0:
                ranges.append((start, cp - 1))
                start = -1
        _CATEGORY_CACHE[name] = ranges
    return _CATEGORY_CACHE[name]


def _negate(ranges: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    out: List[Tuple[int, int]] = []
    nxt = 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= _MAXRUNE:
        out.append((nxt, _MAXRUNE))
    return out


def _class_text(ranges: List[Tuple[int, int]], negated: bool) -> str:
    def esc(c: int) -> str:
        return "\\U%08x" % c
    body = "".join(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}" for lo, hi in sorted(ranges))
    if not body:
        return "[^\\x00-\\U0010ffff]" if not negated else "[\\x00-\\U0010ffff]"
    return f"[{'^' if negated else ''}{body}]"


class _Re2:
    """A parser for the RE2 subset patternmatcher can produce, emitting Python syntax."""

    def __init__(self, text: str):
        self.t = text
        self.i = 0

    def error(self, what: str) -> "_BadPattern":
        return _BadPattern(what)

    def convert(self) -> str:
        out = self._alternation()
        if self.i < len(self.t):
            raise self.error("unexpected )")
        return out

    def _alternation(self) -> str:
        branches = [self._sequence()]
        while self.i < len(self.t) and self.t[self.i] == "|":
            self.i += 1
            branches.append(self._sequence())
        return "|".join(branches)

    def _sequence(self) -> str:
        items: List[str] = []
        while self.i < len(self.t):
            c = self.t[self.i]
            if c == "|" or c == ")":
                break
            repeat = self._repeat_op() if c in "*+?{" else None
            if repeat is not None:
                # RE2 repeats anything but nothing: assertions (^, \b, ...) included.
                if not items:
                    raise self.error("missing argument to repetition operator")
                op = repeat
                if self.i < len(self.t) and self.t[self.i] == "?":
                    op += "?"
                    self.i += 1
                if self.i < len(self.t) and self.t[self.i] in "*+?" or (
                        self.i < len(self.t) and self.t[self.i] == "{" and self._peek_repeat()):
                    raise self.error("invalid nested repetition operator")
                items[-1] = f"(?:{items[-1]}){op}"
                continue
            if c == "(":
                self.i += 1
                if self.t.startswith("?", self.i):
                    raise self.error("unsupported group syntax")
                inner = self._alternation()
                if self.i >= len(self.t) or self.t[self.i] != ")":
                    raise self.error("missing closing )")
                self.i += 1
                items.append(f"(?:{inner})")
            elif c == "[":
                items.append(self._class())
            elif c == "^":
                self.i += 1
                items.append("^")
            elif c == "$":
                self.i += 1
                items.append("\\Z")
            elif c == ".":
                self.i += 1
                items.append("[^\\n]")
            elif c == "\\" and self.t.startswith("Q", self.i + 1):
                # \Q...\E: literal text; a following repetition applies to its last character.
                end = self.t.find("\\E", self.i + 2)
                lit = self.t[self.i + 2:] if end < 0 else self.t[self.i + 2:end]
                self.i = len(self.t) if end < 0 else end + 2
                items.extend(re.escape(ch) for ch in lit)
            elif c == "\\":
                items.append(self._escape_outside())
            else:
                self.i += 1
                items.append(re.escape(c))
        return "".join(items)

    _REPEAT = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")

    def _peek_repeat(self) -> Optional[Tuple[int, int, int]]:
        """RE2's parseRepeat at ``self.i``: (min, max or -1, length), or None if '{' is literal."""
        m = self._REPEAT.match(self.t, self.i)
        if not m:
            return None
        lo_text, comma, hi_text = m.group(1), m.group(2), m.group(3)
        if (len(lo_text) > 1 and lo_text[0] == "0") or (hi_text and len(hi_text) > 1 and hi_text[0] == "0"):
            return None                         # RE2 refuses leading zeros: then '{' is a literal
        lo = int(lo_text)
        hi = lo if not comma else (int(hi_text) if hi_text else -1)
        return lo, hi, m.end() - self.i

    def _repeat_op(self) -> Optional[str]:
        c = self.t[self.i]
        if c != "{":
            self.i += 1
            return c
        parsed = self._peek_repeat()
        if parsed is None:
            return None
        lo, hi, length = parsed
        if lo > 1000 or hi > 1000 or (hi >= 0 and lo > hi):
            raise self.error("invalid repeat count")
        self.i += length
        return "{%d}" % lo if hi == lo else ("{%d,}" % lo if hi < 0 else "{%d,%d}" % (lo, hi))

    def _escape_outside(self) -> str:
        t = self.t
        if self.i + 1 >= len(t):
            raise self.error("trailing backslash at end of expression")
        c = t[self.i + 1]
        if c == "A":
            self.i += 2
            return "\\A"
        if c == "z":
            self.i += 2
            return "\\Z"
        if c in "bB":
            self.i += 2
            return "\\" + c
        if c == "C":
            raise self.error("invalid escape sequence: \\C")
        if c in "pP":
            ranges, negated = self._unicode_class()
            return _class_text(ranges, negated)
        if c.lower() in _PERL_CLASSES:
            self.i += 2
            ranges = _PERL_CLASSES[c.lower()]
            return _class_text(ranges, c.isupper())
        return re.escape(chr(self._escape_char()))

    def _unicode_class(self) -> Tuple[List[Tuple[int, int]], bool]:
        """parseUnicodeClass at ``self.i`` (a backslash before 'p' or 'P'): (ranges, negated)."""
        t = self.t
        negated = t[self.i + 1] == "P"
        self.i += 2
        if self.i >= len(t):
            raise self.error("invalid character class range: \\p")
        if t[self.i] == "{":
            end = t.find("}", self.i)
            if end < 0:
                raise self.error("invalid character class range")
            name = t[self.i + 1:end]
            self.i = end + 1
        else:
            name = t[self.i]
            self.i += 1
        if name.startswith("^"):
            negated = not negated
            name = name[1:]
        return _unicode_category(name, self), negated

    def _escape_char(self) -> int:
        """parseEscape: the code point of the escape at ``self.i`` (which is a backslash)."""
        t = self.t
        self.i += 1
        if self.i >= len(t):
            raise self.error("trailing backslash at end of expression")
        c = t[self.i]
        self.i += 1
        if "1" <= c <= "7" and not (self.i < len(t) and "0" <= t[self.i] <= "7"):
            raise self.error(f"invalid escape sequence: \\{c}")
        if "0" <= c <= "7":
            value = ord(c) - 48
            for _ in range(2):
                if self.i < len(t) and "0" <= t[self.i] <= "7":
                    value = value * 8 + ord(t[self.i]) - 48
                    self.i += 1
                else:
                    break
            return value
        if c == "x":
            if self.i < len(t) and t[self.i] == "{":
                end = t.find("}", self.i)
                digits = t[self.i + 1:end] if end > 0 else ""
                if not digits or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise self.error("invalid escape sequence: \\x{")
                value = int(digits, 16)
                if value > _MAXRUNE:
                    raise self.error("invalid escape sequence: \\x{")
                self.i = end + 1
                return value
            digits = t[self.i:self.i + 2]
            if len(digits) < 2 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise self.error("invalid escape sequence: \\x")
            self.i += 2
            return int(digits, 16)
        simple = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
        if c in simple:
            return simple[c]
        if ord(c) < 0x80 and not c.isalnum():
            return ord(c)
        raise self.error(f"invalid escape sequence: \\{c}")

    def _class(self) -> str:
        t = self.t
        self.i += 1
        negated = False
        if self.i < len(t) and t[self.i] == "^":
            negated = True
            self.i += 1
        ranges: List[Tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(t):
                raise self.error("missing closing ]")
            if t[self.i] == "]" and not first:
                self.i += 1
                break
            first = False
            if t.startswith("[:", self.i) and len(t) - self.i > 2:
                end = t.find(":]", self.i + 2)
                if end >= 0:
                    name = t[self.i + 2:end]
                    neg = name.startswith("^")
                    group = _ASCII_CLASSES.get(name[1:] if neg else name)
                    if group is None:
                        raise self.error(f"invalid character class range: [:{name}:]")
                    ranges.extend(_negate(group) if neg else group)
                    self.i = end + 2
                    continue
            if t.startswith("\\", self.i) and self.i + 1 < len(t):
                c = t[self.i + 1]
                if c in "pP":
                    group, neg = self._unicode_class()
                    ranges.extend(_negate(group) if neg else group)
                    continue
                if c.lower() in _PERL_CLASSES:
                    group = _PERL_CLASSES[c.lower()]
                    ranges.extend(_negate(group) if c.isupper() else group)
                    self.i += 2
                    continue
            lo = self._class_char()
            hi = lo
            if self.i + 1 < len(t) and t[self.i] == "-" and t[self.i + 1] != "]":
                self.i += 1
                hi = self._class_char()
                if hi < lo:
                    raise self.error("invalid character class range")
            ranges.append((lo, hi))
        return _class_text(ranges, negated)

    def _class_char(self) -> int:
        if self.i >= len(self.t):
            raise self.error("missing closing ]")
        if self.t[self.i] == "\\":
            return self._escape_char()
        self.i += 1
        return ord(self.t[self.i - 1])


def go_regexp(text: str) -> "re.Pattern[str]":
    """Compile Go RE2 ``text`` (as patternmatcher generates it) to an equivalent Python regexp."""
    return re.compile(_Re2(text).convert(), re.ASCII)


# --------------------------------------------------------------------------------------------
# patternmatcher.Pattern

_EXACT, _PREFIX, _SUFFIX, _REGEXP = range(4)


class _Pattern:
    __slots__ = ("text", "exclusion", "dirs", "kind", "regexp", "line", "depth", "matcher")

    def __init__(self, text: str, exclusion: bool, line: int):
        self.text = text                    # the cleaned pattern, without '!'
        self.exclusion = exclusion
        self.dirs = len(text.split("/"))
        self.line = line
        self.regexp: Optional[re.Pattern] = None
        self.kind = _EXACT
        self._compile()
        # '*' and '?' never match '/', so a pattern only matches paths with as many slashes as
        # it has -- unless it holds '**', a class or an escape (either can match '/': "[^a]",
        # "\W") or a '|' (an unanchored alternative can match deeper paths).
        self.depth = None if any(c in text for c in "[\\|") or "**" in text else text.count("/")
        if self.kind == _EXACT:
            self.matcher = text.__eq__
        elif self.kind == _PREFIX:
            prefix = text[:-2]
            self.matcher = lambda path: path.startswith(prefix)
        elif self.kind == _REGEXP:
            # search, as Go's MatchString: an unescaped '|' can split off an unanchored branch.
            search = self.regexp.search  # type: ignore[union-attr]
            suffix = _literal_suffix(text)
            if suffix:
                # Most paths fail on the literal tail ("**/*.log" needs ".log"): test that first.
                self.matcher = lambda path: path.endswith(suffix) and search(path) is not None
            else:
                self.matcher = search
        else:
            self.matcher = self._match_suffix

    def _compile(self) -> None:
        """Pattern.compile: the match type and, for regexp patterns, the regexp."""
        reg = ["^"]
        kind = _EXACT
        p = self.text
        n = len(p)
        pos = 0
        i = 0
        while pos < n:
            ch = p[pos]
            pos += 1
            if ch == "*":
                if pos < n and p[pos] == "*":
                    pos += 1
                    if pos < n and p[pos] == "/":
                        pos += 1
                    if pos >= n:
                        if kind == _EXACT:
                            kind = _PREFIX
                        else:
                            reg.append(".*")
                            kind = _REGEXP
                    else:
                        reg.append("(.*/)?")
                        kind = _REGEXP
                    if i == 0:
                        kind = _SUFFIX
                else:
                    reg.append("[^/]*")
                    kind = _REGEXP
            elif ch == "?":
                reg.append("[^/]")
                kind = _REGEXP
            elif ch in ".+()$":
                # Upstream means to escape ".+()|{}$", but its bitmap (escapeBytes[b%8] |=
                # 1 << (b/8), a byte) drops every character >= 64: '|', '{' and '}' reach the
                # regexp unescaped and act as alternation and repetition there. So here too.
                reg.append("\\" + ch)
            elif ch == "\\":
                if pos < n:
                    reg.append("\\" + p[pos])
                    pos += 1
                    kind = _REGEXP
                else:
                    reg.append("\\")
            elif ch in "[]":
                reg.append(ch)
                kind = _REGEXP
            else:
                reg.append(ch)
            i += 1
        if kind == _REGEXP:
            reg.append("$")
            self.regexp = go_regexp("".join(reg))
        self.kind = kind

    def _match_suffix(self, path: str) -> bool:
        suffix = self.text[2:]
        if path.endswith(suffix):
            return True
        return suffix[:1] == "/" and path == suffix[1:]

    def match(self, path: str) -> bool:
        """Pattern.match: exact, prefix ("dir/**"), suffix ("**/name") or regexp match."""
        return bool(self.matcher(path))


def _literal_suffix(pattern: str) -> str:
    """The text every match must end with, when the pattern has no construct that could hide it."""
    if any(c in pattern for c in "|{}\\[]^"):
        return ""
    tail = re.split(r"[*?]", pattern)[-1]
    return tail


def _dirname(path: str) -> str:
    parent = posixpath.dirname(path)
    return parent if parent else "."


class IgnoreRules:
    """The patterns of a ``.dockerignore`` file, matched as moby's patternmatcher matches them."""

    def __init__(self, patterns: Sequence[_Pattern] = ()):
        self._patterns: Tuple[_Pattern, ...] = tuple(patterns)
        self.has_exclusions = any(p.exclusion for p in self._patterns)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    @property
    def patterns(self) -> Tuple[str, ...]:
        """The cleaned patterns, exceptions with their leading '!', in file order."""
        return tuple(("!" if p.exclusion else "") + p.text for p in self._patterns)

    @classmethod
    def parse(cls, text: str, source: str = ".dockerignore") -> "IgnoreRules":
        """Read ``.dockerignore`` text; raise ContextError naming ``source`` and the line."""
        lines = text.split("\n")
        patterns: List[_Pattern] = []
        for number, line in enumerate(lines, 1):
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            if line.endswith("\r"):
                line = line[:-1]
            if line.startswith("#"):
                continue
            pattern = _go_trim(line)
            if not pattern:
                continue
            invert = pattern[0] == "!"
            if invert:
                pattern = _go_trim(pattern[1:])
            if pattern:
                pattern = go_clean(pattern)
                if len(pattern) > 1 and pattern[0] == "/":
                    pattern = pattern[1:]
            patterns.append(cls._new(("!" if invert else "") + pattern, number, source, line))
        return cls(patterns)

    @staticmethod
    def _new(pattern: str, number: int, source: str, original: str) -> _Pattern:
        """patternmatcher.New for one pattern (it cleans and checks again)."""
        p = go_clean(_go_trim(pattern))
        exclusion = p.startswith("!")
        if exclusion:
            if len(p) == 1:
                raise ContextError(f'{source}:{number}: illegal exclusion pattern: "!"')
            p = p[1:]
        if not _check_match_syntax(p):
            raise ContextError(f"{source}:{number}: syntax error in pattern {_go_trim(original)!r}")
        try:
            return _Pattern(p, exclusion, number)
        except _BadPattern as exc:
            raise ContextError(f"{source}:{number}: syntax error in pattern {_go_trim(original)!r}: "
                               f"{exc}") from None
        except re.error as exc:  # a translation this module got wrong must not pass silently
            raise ContextError(f"{source}:{number}: cannot use pattern {_go_trim(original)!r}: {exc}") from None

    def with_exceptions(self, paths: Iterable[str]) -> "IgnoreRules":
        """These rules plus ``!path`` for each of ``paths``, as the CLI adds for its build files."""
        extra = []
        for p in paths:
            try:
                extra.append(self._new("!" + p, 0, "", p))
            except ContextError:
                raise ContextError(f"{p!r} is excluded by .dockerignore and, read as a pattern, cannot be "
                                   "re-included; rename it or stop excluding it") from None
        return IgnoreRules(self._patterns + tuple(extra))

    # -- matching ---------------------------------------------------------------------------

    def match_info(self, path: str, parent: Optional[Tuple[bool, ...]]) -> Tuple[bool, Tuple[bool, ...]]:
        """MatchesUsingParentResults: (excluded, per-pattern results to hand to children).

        ``parent`` is the result for the parent directory, or None for a path whose parents were
        not matched (then each parent directory is tried, as MatchesOrParentMatches does).
        """
        matched = False
        info: List[bool] = []
        for index, pattern in enumerate(self._patterns):
            hit = parent[index] if parent else False
            if not hit:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                hit = pattern.match(path)
                if not hit and not parent:
                    parent_path = _dirname(path)
                    if parent_path != ".":
                        dirs = parent_path.split("/")
                        for depth in range(1, len(dirs) + 1):
                            if pattern.match("/".join(dirs[:depth])):
                                hit = True
                                break
            info.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(info)

    def plan(self, parent: Optional[Tuple[bool, ...]], depth: int) -> List[Tuple[int, bool, object]]:
        """What deciding a child of one directory takes: (index, exclusion, matcher or None).

        ``parent`` is the directory's per-pattern results (None: none hit, as for the context
        root), ``depth`` the number of '/' in its children's paths. A pattern the parent hit
        counts as hit (matcher None); one that cannot match at this depth is left out.
        """
        steps: List[Tuple[int, bool, object]] = []
        for index, pattern in enumerate(self._patterns):
            if parent is not None and parent[index]:
                steps.append((index, pattern.exclusion, None))
            elif pattern.depth is None or pattern.depth == depth:
                steps.append((index, pattern.exclusion, pattern.matcher))
        return steps

    def excluded(self, relpath: str) -> bool:
        """Whether ``relpath`` ('/'-separated, relative to the context) is left out of the context."""
        path = go_clean(relpath.replace(os.sep, "/") if os.sep != "/" else relpath)
        if path == "." or not self._patterns:
            return False
        info: Optional[Tuple[bool, ...]] = None
        parts = path.split("/")
        for depth in range(1, len(parts)):
            _, info = self.match_info("/".join(parts[:depth]), info)
        return self.match_info(path, info)[0]

    def matches_deprecated(self, path: str) -> bool:
        """patternmatcher.Matches (which the CLI still uses to decide to keep its build files)."""
        path = go_clean(path)
        if path == ".":
            return False
        matched = False
        parent = _dirname(path)
        parent_dirs = parent.split("/")
        for pattern in self._patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != "." and pattern.dirs <= len(parent_dirs):
                hit = pattern.match("/".join(parent_dirs[:pattern.dirs]))
            if hit:
                matched = not pattern.exclusion
        return matched

    def keeps_dir_open(self, reldir: str) -> bool:
        """The CLI's test for entering an excluded directory: an exception starts with ``reldir/``."""
        prefix = reldir + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self._patterns)


# --------------------------------------------------------------------------------------------
# The walk: what the engine receives.

@dataclass(frozen=True)
class ContextEntry:
    relpath: str            # '/'-separated, relative to the context
    kind: str               # "file" | "dir" | "symlink"
    mode: int               # st_mode (type and permission bits)
    size: int               # bytes for files, 0 otherwise
    link: Optional[str]     # the target of a symlink
    abspath: str
    mtime: int = 0          # whole seconds, as the tar header carries it


_FILE, _DIR, _LINK = "file", "dir", "symlink"
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)

# One scanned entry: (relpath, kind, stat_result, link target or None).
_Scanned = Tuple[str, str, os.stat_result, Optional[str]]


def read_ignore_rules(context: Path) -> IgnoreRules:
    """The context's ``.dockerignore`` (none: no rules); ContextError when it cannot be used."""
    path = os.path.join(os.fspath(context), ".dockerignore")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return IgnoreRules()
    except OSError as exc:
        raise ContextError(f"cannot read {path}: {exc.strerror or exc}") from None
    # Monorepos often give every context the same .dockerignore: parse (and compile) each
    # text once. Rules are immutable; a text that fails to parse is not kept, so its error
    # always names the file at hand.
    rules = _PARSED_IGNORE_FILES.get(data)
    if rules is None:
        rules = IgnoreRules.parse(data.decode("utf-8", "surrogateescape"), path)
        if len(_PARSED_IGNORE_FILES) < 256:
            _PARSED_IGNORE_FILES[data] = rules
    return rules


_PARSED_IGNORE_FILES: Dict[bytes, IgnoreRules] = {}


def dockerfile_relpath(dockerfile: str) -> str:
    """The Dockerfile's path inside the context, as the engine names it in the tar."""
    return _dockerfile_relpath(dockerfile)


def _dockerfile_relpath(dockerfile: str) -> str:
    rel = go_clean(dockerfile.replace(os.sep, "/"))
    if rel.startswith("/") or rel == ".." or rel.startswith("../") or rel == ".":
        raise ContextError(f"the Dockerfile ({dockerfile}) must be a file within the build context")
    return rel


def _scan(context: Path, dockerfile: str) -> Tuple[str, List[_Scanned]]:
    """Walk ``context`` as the docker CLI does; (absolute root, entries in relpath order)."""
    root = os.path.abspath(os.fspath(context))
    try:
        st_root = os.stat(root)
    except OSError as exc:
        raise ContextError(f"cannot read the build context {root}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st_root.st_mode):
        raise ContextError(f"the build context {root} is not a directory")
    rules = read_ignore_rules(context)
    build_files = (".dockerignore", _dockerfile_relpath(dockerfile))
    if rules:
        keep = [f for f in build_files if rules.matches_deprecated(f)]
        if keep:
            rules = rules.with_exceptions(keep)

    out: List[_Scanned] = []
    S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK
    npatterns = len(rules.patterns)
    # A stack of directories to read: (absolute dir, relpath prefix, parent match results).
    # This is TarWithOptions' walk with MatchesUsingParentResults: a child starts from its
    # directory's per-pattern results, and only patterns not already hit are tried on it.
    stack: List[Tuple[str, str, Optional[Tuple[bool, ...]]]] = [(root, "", None)]
    while stack:
        absdir, prefix, parent_info = stack.pop()
        steps = rules.plan(parent_info, prefix.count("/")) if npatterns else ()
        # Listing through a directory descriptor lets DirEntry.stat use fstatat on one name
        # instead of resolving the whole path again for every entry.
        try:
            dir_fd = os.open(absdir, _DIR_FLAGS)
        except OSError as exc:
            raise ContextError(f"cannot read directory {absdir}: {exc.strerror or exc}") from None
        try:
            with os.scandir(dir_fd) as it:
                for de in it:
                    name = de.name
                    rel = prefix + name
                    info: Optional[Tuple[bool, ...]] = None
                    if steps:
                        # Decide before stat-ing: what is left out costs no system call.
                        is_dir = de.is_dir(follow_symlinks=False)
                        hits = [False] * npatterns if is_dir else None
                        skip = False
                        for index, exclusion, matcher in steps:
                            if matcher is None:
                                hit = True
                            elif exclusion != skip:
                                continue
                            else:
                                hit = matcher(rel)
                            if hit:
                                if hits is not None:
                                    hits[index] = True
                                skip = not exclusion
                        if hits is not None and True in hits:
                            info = tuple(hits)
                        if skip:
                            if is_dir and rules.has_exclusions and rules.keeps_dir_open(rel):
                                stack.append((absdir + "/" + name, rel + "/", info))
                            continue
                    try:
                        st = de.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue                    # removed while we looked
                    fmt = st.st_mode & S_IFMT
                    if fmt == S_IFREG:
                        out.append((rel, _FILE, st, None))
                    elif fmt == S_IFDIR:
                        out.append((rel, _DIR, st, None))
                        stack.append((absdir + "/" + name, rel + "/", info))
                    elif fmt == S_IFLNK:
                        out.append((rel, _LINK, st, os.readlink(name, dir_fd=dir_fd)))
                    else:
                        log.debug("not sending %s: not a file, directory or symbolic link", rel)
        except ContextError:
            raise
        except OSError as exc:
            where = exc.filename if isinstance(exc.filename, str) else absdir
            raise ContextError(f"cannot read {where}: {exc.strerror or exc}") from None
        finally:
            os.close(dir_fd)

    # Like the CLI, the build files are always sent (even in the rare case where its own check,
    # patternmatcher.Matches, misses that a parent directory is excluded).
    have = {e[0] for e in out} if rules else ()
    for rel in build_files:
        if rules and rel not in have:
            path = os.path.join(root, rel)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out.append((rel, _FILE, st, None))
            elif stat.S_ISLNK(st.st_mode):
                out.append((rel, _LINK, st, os.readlink(path)))
    out.sort()                      # relpaths are unique: only they are compared
    return root, out


def context_entries(context: Path, dockerfile: str = "Dockerfile") -> List[ContextEntry]:
    """Exactly what the engine receives for ``context``, sorted by relpath."""
    root, scanned = _scan(Path(context), dockerfile)
    sep = "" if root.endswith("/") else "/"
    return [ContextEntry(rel, kind, st.st_mode, st.st_size if kind == _FILE else 0, link,
                         root + sep + rel, st.st_mtime_ns // 1_000_000_000)
            for rel, kind, st, link in scanned]


# --------------------------------------------------------------------------------------------
# Digest and stat cache.

class StatCache:
    """Content hashes of files, valid while (size, mtime_ns, ctime_ns, inode, mode) is unchanged.

    ctime is part of the key because it cannot be set back: a tool that rewrites a file and
    restores its mtime (``cp -p``, ``rsync -t``, an unpacked archive) still changes it. A file
    modified less than two seconds before it was hashed is not remembered, because file
    timestamps come from a coarse clock and a second write in the same tick would go unseen.

    Stored as JSON, one object per context root mapping relpath -> "size:mtime:ctime:ino:mode:"
    followed by the entry's digest line ("file MODE SHA256"), so 50,000 entries load as 50,000
    short strings and a hit costs one string comparison. Each walk replaces its root's entries, which
    forgets files that are gone. ``save`` writes atomically (temporary file + os.replace).
    """

    VERSION = 2
    RACY_NS = 2_000_000_000

    def __init__(self) -> None:
        self._roots: Dict[str, Dict[str, str]] = {}
        self._dirty = False
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(v) for v in self._roots.values())

    @classmethod
    def load(cls, path: "os.PathLike[str] | str") -> "StatCache":
        """The cache saved at ``path``; an empty cache if it is missing or unreadable."""
        cache = cls()
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError):
            return cache
        if isinstance(data, dict) and data.get("version") == cls.VERSION and isinstance(data.get("roots"), dict):
            cache._roots = {k: v for k, v in data["roots"].items() if isinstance(v, dict)}
        return cache

    def save(self, path: "os.PathLike[str] | str") -> None:
        """Write the cache atomically; does nothing when nothing changed since ``load``."""
        with self._lock:
            if not self._dirty:
                return
            payload = json.dumps({"version": self.VERSION, "roots": self._roots},
                                 separators=(",", ":"), ensure_ascii=False)
            self._dirty = False
        directory = os.path.dirname(os.fspath(path)) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".statcache-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(payload)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def root(self, root: str) -> Dict[str, str]:
        """The remembered entries under ``root`` (read-only by convention)."""
        return self._roots.get(root, {})

    def replace_root(self, root: str, entries: Dict[str, str]) -> None:
        with self._lock:
            if self._roots.get(root) != entries:
                self._roots[root] = entries
                self._dirty = True


@dataclass(frozen=True)
class ContextDigest:
    """What the cache key needs from a context, and what a plan needs to say what changed.

    ``files`` maps each relpath the engine receives to "file MODE SHA256", "symlink MODE TARGET"
    or "dir MODE", so comparing two digests names the entries added, removed and changed (a
    chmod included). ``count`` is the number of files and symlinks, ``total_size`` their bytes.
    """

    digest: str
    files: Mapping[str, str] = field(compare=False, repr=False)
    total_size: int = 0
    count: int = 0


_CHUNK = 1 << 20
_local = threading.local()


def _hash_file(path: str, st: os.stat_result) -> Tuple[str, bool]:
    """(sha256 hex of the file's bytes, whether the file stayed unchanged while it was read)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(_CHUNK)
    view = memoryview(buf)
    h = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ContextError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        while True:
            n = os.readv(fd, [buf])
            if not n:
                break
            h.update(view[:n])
        after = os.fstat(fd)
    except OSError as exc:
        raise ContextError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    steady = (after.st_size == st.st_size and after.st_mtime_ns == st.st_mtime_ns
              and after.st_ctime_ns == st.st_ctime_ns)
    return h.hexdigest(), steady


def context_digest(context: Path, dockerfile: str = "Dockerfile",
                   stat_cache: Optional[StatCache] = None) -> ContextDigest:
    """Digest of exactly what the engine receives: paths, kinds, modes, contents, link targets.

    Modification times never count. File contents are streamed; with ``stat_cache`` an unchanged
    file (same size, mtime, ctime, inode and mode) is not read again.
    """
    root, scanned = _scan(Path(context), dockerfile)
    started = time.time_ns()
    old_get = (stat_cache.root(root) if stat_cache is not None else {}).get
    new: Dict[str, str] = {}
    files: Dict[str, str] = {}
    missing: List[Tuple[str, os.stat_result, str]] = []
    total_size = 0
    count = 0
    for rel, kind, st, link in scanned:
        if kind is _FILE:
            size = st.st_size
            total_size += size
            count += 1
            # The cache holds "KEY" + "file MODE SHA"; this loop is all a warm re-check costs.
            k = f"{size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_mode}:"
            cached = old_get(rel)
            if cached is not None and cached.startswith(k):
                new[rel] = cached
                files[rel] = cached[len(k):]
            else:
                files[rel] = ""
                missing.append((rel, st, k))
        elif kind is _LINK:
            files[rel] = f"symlink {st.st_mode & 0o7777:04o} {link}"
            count += 1
        else:
            files[rel] = f"dir {st.st_mode & 0o7777:04o}"

    # Serially: with many small files, threads lose more to the GIL than they win on I/O.
    sep = "" if root.endswith("/") else "/"
    racy_after = started - StatCache.RACY_NS
    for rel, st, k in missing:
        sha, steady = _hash_file(root + sep + rel, st)
        value = files[rel] = f"file {st.st_mode & 0o7777:04o} {sha}"
        if steady and st.st_mtime_ns < racy_after:
            new[rel] = k + value

    # Entries are in relpath order; '\0' cannot occur in a path or a link target.
    text = "\0".join(chain.from_iterable(files.items()))
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    if stat_cache is not None:
        stat_cache.replace_root(root, new)
    return ContextDigest(digest, files, total_size, count)


# --------------------------------------------------------------------------------------------
# The tar stream.

_BLOCK = 512


def _header(entry: ContextEntry) -> bytes:
    info = tarfile.TarInfo(entry.relpath)
    info.mode = entry.mode & 0o7777
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = entry.mtime
    if entry.kind == _DIR:
        info.type = tarfile.DIRTYPE
    elif entry.kind == _LINK:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.link or ""
    else:
        info.type = tarfile.REGTYPE
        info.size = entry.size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _plain_header_first(entries: Iterable[ContextEntry]) -> List[ContextEntry]:
    """``entries`` with one whose header is plain ustar (no PAX extension) in front.

    The engine's BuildKit tells a tar context from a bare Dockerfile by reading the first tar
    header out of the body's first 1,024 bytes; a first entry with a PAX extension (a long or
    non-ASCII name) pushes its real header past them and the whole context is then taken for a
    Dockerfile. Which entry comes first does not matter to the extraction.
    """
    entries = list(entries)
    if not entries or not _header(entries[0]).startswith(_PAX_NAME):
        return entries
    plain = [i for i, e in enumerate(entries) if not _header(e).startswith(_PAX_NAME)]
    if plain:
        top = [i for i in plain if "/" not in entries[i].relpath]
        entries.insert(0, entries.pop((top or plain)[0]))
    return entries


_PAX_NAME = b"././@PaxHeader"


def stream_context_tar(entries: Iterable[ContextEntry], chunk_size: int = _CHUNK, *,
                       replace: Optional[Mapping[str, bytes]] = None,
                       expected: Optional[Mapping[str, str]] = None) -> Iterator[bytes]:
    """An uncompressed tar of exactly ``entries``, produced ``chunk_size`` bytes at a time.

    Headers are deterministic: uid/gid 0, no user or group names, the entry's mode, and its
    modification time in whole seconds (as the docker CLI sends). The classic builder keys its
    layer cache on a tarsum that leaves mtime out (tarsum Version1), so touching a file keeps
    the engine's layer cache warm, and files keep their real times inside the image as they do
    with ``docker build``. A file whose size changed since it was listed is an error rather
    than a corrupt archive.

    ``replace`` sends other bytes for some paths (the Dockerfile with its labels appended).
    ``expected`` is a ``ContextDigest.files`` map: every entry sent is checked against it, file
    contents hashed as they stream, so what the engine receives is exactly what the cache key
    was computed from; a difference raises ContextError naming the file.
    """
    replace = replace or {}
    seen = 0
    pending = bytearray()
    for entry in _plain_header_first(entries):
        if expected is not None:
            seen += 1
            want = expected.get(entry.relpath)
            if want is None or not want.startswith(entry.kind):
                raise ContextError(f"{entry.abspath} appeared or changed kind after the context was hashed; "
                                   "run the build again")
        hasher = hashlib.sha256() if expected is not None and entry.kind == _FILE else None
        if entry.relpath in replace:
            data = replace[entry.relpath]
            if hasher is not None:
                with open(entry.abspath, "rb") as f:   # small: the Dockerfile
                    hasher.update(f.read())
                _check_sent(entry, hasher, expected)
            entry = dataclasses.replace(entry, size=len(data))
            pending += _header(entry) + data + bytes(-len(data) % _BLOCK)
            if len(pending) >= chunk_size:
                yield bytes(pending)
                pending.clear()
            continue
        pending += _header(entry)
        if entry.kind == _FILE and entry.size:
            remaining = entry.size
            try:
                fd = os.open(entry.abspath, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise ContextError(f"cannot read {entry.abspath}: {exc.strerror or exc}") from None
            try:
                if os.fstat(fd).st_size != entry.size:
                    raise ContextError(f"{entry.abspath} changed while the context was being sent")
                while remaining:
                    if not pending and remaining >= chunk_size:
                        data = os.read(fd, chunk_size)     # a whole chunk: hand it on as is
                        if not data:
                            raise ContextError(f"{entry.abspath} changed while the context was being sent")
                        remaining -= len(data)
                        if hasher is not None:
                            hasher.update(data)
                        yield data
                        continue
                    room = max(chunk_size - len(pending), _BLOCK)
                    data = os.read(fd, min(room, remaining))
                    if not data:
                        raise ContextError(f"{entry.abspath} changed while the context was being sent")
                    if hasher is not None:
                        hasher.update(data)
                    pending += data
                    remaining -= len(data)
                    if len(pending) >= chunk_size:
                        yield bytes(pending)
                        pending.clear()
            except OSError as exc:
                raise ContextError(f"cannot read {entry.abspath}: {exc.strerror or exc}") from None
            finally:
                os.close(fd)
            pad = -entry.size % _BLOCK
            if pad:
                pending += bytes(pad)
        if hasher is not None:
            _check_sent(entry, hasher, expected)
        if len(pending) >= chunk_size:
            yield bytes(pending)
            pending.clear()
    if expected is not None and seen != len(expected):
        raise ContextError("files were removed from the context after it was hashed; run the build again")
    pending += bytes(2 * _BLOCK)
    yield bytes(pending)


def _check_sent(entry: ContextEntry, hasher, expected: Mapping[str, str]) -> None:
    if not expected[entry.relpath].endswith(" " + hasher.hexdigest()):
        raise ContextError(f"{entry.abspath} changed after the context was hashed; run the build again")
