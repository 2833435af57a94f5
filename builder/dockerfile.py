"""Read the dependencies of a Dockerfile the way the engine reads them.

This follows the Dockerfile parser shared by BuildKit and the engine's classic builder
(moby/buildkit ``frontend/dockerfile/parser``, ``instructions`` and ``shell``) and the classic
builder's dispatch rules (moby ``builder/dockerfile``), because the classic builder is what
docker-py talks to. The parts that decide which images a Dockerfile needs:

* Parser directives (``# syntax=``, ``# escape=``, ``# check=``) are read only until the first
  line that is not one; ``# escape=`` switches the escape and line-continuation character to a
  backtick. A second ``escape`` directive is an error.
* Comment lines start with ``#`` after leading whitespace. Inside a line continuation, comment
  lines and empty lines are skipped; a continuation line keeps its leading whitespace and is
  joined without a separator.
* Instructions are case-insensitive. Flags are ``--name=value`` words right after the
  instruction. A heredoc (``RUN <<EOF``) swallows the lines up to its terminator.
* ``FROM`` is expanded with the ARGs declared before the first ``FROM`` (their defaults, each
  expanded with the ARGs before it), overridden by build args only for ARGs so declared, plus
  the built-in proxy args when given; ``${VAR:-default}``, ``${VAR:+alt}``, ``${VAR#pre}``, ...
  work as in the engine's shell lexer. An undeclared build arg does not substitute.
* ``FROM name`` names a stage when ``name`` (case-insensitively) is a stage already built; the
  classic builder only knows earlier stages, so a later or the current stage's name is an image.
* ``COPY --from=X``: the classic builder does not expand variables in ``--from``
  (``CopyCommand.Expand`` expands ``--chown`` and the paths, never ``From``); ``X`` is an
  earlier stage name, a stage index (an index that is not an earlier stage is an error), or
  else an image reference taken literally.
* ``RUN --mount=...,from=X`` is BuildKit-only syntax (the classic builder refuses it when it
  runs), listed so the graph still sees the dependency. BuildKit resolves ``from`` against every
  stage name of the file and refuses variables in it.
* With a target, only the stages up to and including it are dispatched; the whole file is still
  parsed first, so a syntax error anywhere fails the build.

``steps`` is the classic builder's ``Step N/M`` total: one per ARG before the first FROM, plus
one per dispatched stage (its FROM) and one per instruction in it.
"""
from __future__ import annotations

import csv
import difflib
import json
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from builder import refs

__all__ = ["DockerfileError", "DockerfileInfo", "Reference", "parse_dockerfile"]


@dataclass(frozen=True)
class Reference:
    ref: str        # the image reference after ARG substitution, as written (e.g. "acme/base:1.0")
    via: str        # "FROM" | "COPY --from" | "RUN --mount"
    line: int       # 1-based line of the instruction in the Dockerfile


@dataclass(frozen=True)
class DockerfileInfo:
    references: Tuple[Reference, ...]   # images only: never stage names, stage indexes or "scratch"
    stages: Tuple[str, ...]             # stage names (lowercased) in order; "" for unnamed stages
    steps: int                          # build steps the classic builder runs ("Step N/M")


class DockerfileError(Exception):
    """The engine would refuse this Dockerfile. ``line`` is 1-based; 0 means the whole file."""

    def __init__(self, line: int, message: str):
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line else message)


# --------------------------------------------------------------------------------------------
# Character classes as Go's unicode/regexp define them (the parser is Go; Python's differ).

_GO_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                      "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _go_trim_left(s: str) -> str:
    i = 0
    while i < len(s) and s[i] in _GO_SPACE:
        i += 1
    return s[i:]


def _go_trim(s: str) -> str:
    j = len(s)
    while j > 0 and s[j - 1] in _GO_SPACE:
        j -= 1
    return _go_trim_left(s[:j])


_RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")        # parser.reWhitespace / tokenWhitespace
_RE_DIRECTIVE = re.compile(r"^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_RE_HEREDOC = re.compile(r"^([0-9]*)<<(-?)([^<]*)\Z", re.DOTALL)
_RE_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*\Z")
_RE_INT = re.compile(r"^[+-]?[0-9]+\Z")
_VALID_DIRECTIVES = ("escape", "syntax", "check")
_INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
                 "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume",
                 "workdir")
_HEREDOC_INSTRUCTIONS = ("add", "copy", "run")
# The classic builder lets these substitute in FROM when given as build args, declared or not.
_BUILTIN_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                 "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


class _LexError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# The shell-word lexer (buildkit frontend/dockerfile/shell/lex.go), used for ARG and FROM
# expansion and to find heredoc words.

class _Words:
    __slots__ = ("word", "words", "in_word")

    def __init__(self) -> None:
        self.word = ""
        self.words: List[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in _GO_SPACE:
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> List[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lex:
    def __init__(self, escape: str, env: Mapping[str, str], *, raw_quotes: bool = False,
                 raw_escapes: bool = False, skip_unset: bool = False):
        self.escape = escape
        self.env = env
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.s = ""
        self.pos = 0

    def process(self, word: str) -> Tuple[str, List[str]]:
        self.s, self.pos = word, 0
        return self._stop_on(None, self.raw_escapes)

    def _peek(self) -> Optional[str]:
        return self.s[self.pos] if self.pos < len(self.s) else None

    def _next(self) -> Optional[str]:
        if self.pos < len(self.s):
            self.pos += 1
            return self.s[self.pos - 1]
        return None

    def _stop_on(self, stop: Optional[str], raw_escapes: bool) -> Tuple[str, List[str]]:
        result: List[str] = []
        words = _Words()
        while self.pos < len(self.s):
            ch = self.s[self.pos]
            if stop is not None and ch == stop:
                self.pos += 1
                return "".join(result), words.get()
            if ch == "$":
                tmp = self._dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch == "'":
                tmp = self._single_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif ch == '"':
                tmp = self._double_quote(raw_escapes)
                result.append(tmp)
                words.add_raw_string(tmp)
            else:
                self.pos += 1
                if ch == self.escape:
                    if raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    nxt = self._next()
                    if nxt is None:
                        break
                    ch = nxt
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop is not None:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def _single_quote(self) -> str:
        out: List[str] = []
        ch = self._next()
        if self.raw_quotes:
            out.append(ch or "")
        while True:
            ch = self._next()
            if ch is None:
                raise _LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self, raw_escapes: bool) -> str:
        out: List[str] = []
        ch = self._next()
        if self.raw_quotes:
            out.append(ch or "")
        while True:
            peek = self._peek()
            if peek is None:
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            if peek == '"':
                self._next()
                if self.raw_quotes:
                    out.append(peek)
                return "".join(out)
            if peek == "$":
                out.append(self._dollar())
                continue
            ch = self._next()
            if ch == self.escape:
                if raw_escapes:
                    out.append(ch)
                nxt = self._peek()
                if nxt is None:
                    continue
                if nxt in ('"', "$", self.escape):
                    ch = self._next()
            out.append(ch or "")

    def _name(self) -> str:
        name: List[str] = []
        while self.pos < len(self.s):
            ch = self.s[self.pos]
            if not name and ch.isdecimal():
                while self.pos < len(self.s) and self.s[self.pos].isdecimal():
                    name.append(self.s[self.pos])
                    self.pos += 1
                return "".join(name)
            if not name and ch in "@*#?-$!0":
                self.pos += 1
                return ch
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            name.append(ch)
            self.pos += 1
        return "".join(name)

    def _get(self, name: str) -> Tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def _dollar(self) -> str:
        self.pos += 1
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._get(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.pos += 1
        peek = self._peek()
        if peek is None:
            raise _LexError("syntax error: missing '}'")
        if peek in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        if ch is None:
            raise _LexError("syntax error: missing '}'")
        chs = ch
        if ch == "}":
            value, found = self._get(name)
            if not found and self.skip_unset:
                return "${%s}" % name
            return value
        if ch in ":+-?#%":
            null_is_unset = False
            if ch == ":":
                null_is_unset = True
                ch = self._next() or ""
                chs += ch
            try:
                word, _ = self._stop_on("}", ch != "" and ch in "#%")
            except _LexError:
                if self._peek() is None:
                    raise _LexError("syntax error: missing '}'") from None
                raise
            value, found = self._get(name)
            if self.skip_unset and not found:
                return "${%s%s%s}" % (name, chs, word)
            empty = not found or (null_is_unset and value == "")
            if ch == "-":
                return word if empty else value
            if ch == "+":
                return "" if empty else word
            if ch == "?":
                if not found:
                    raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch in "#%":
                greedy = word[:1] == ch
                if greedy:
                    word = word[1:]
                if ch == "%":
                    return _trim_suffix(word, value, greedy)
                return _trim_prefix(word, value, greedy)
            raise _LexError(f"unsupported modifier ({chs}) in substitution")
        if ch == "/":
            replace_all = self._peek() == "/"
            if replace_all:
                self.pos += 1
            try:
                pattern, _ = self._stop_on("/", True)
            except _LexError:
                if self._peek() is None:
                    raise _LexError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self._stop_on("}", True)
            except _LexError:
                if self._peek() is None:
                    raise _LexError("syntax error: missing '}'") from None
                raise
            value, found = self._get(name)
            if self.skip_unset and not found:
                return "${%s/%s/%s}" % (name, pattern, replacement)
            rx = _shell_pattern(pattern, greedy=True, anchored=False)
            if replace_all:
                return rx.sub(lambda _m: replacement, value)
            return rx.sub(lambda _m: replacement, value, count=1)
        raise _LexError(f"unsupported modifier ({chs}) in substitution")


def _shell_pattern(pattern: str, *, greedy: bool, anchored: bool) -> "re.Pattern[str]":
    """convertShellPatternToRegex: '*' and '?' wildcards, '\\' escapes, no bracket expressions."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(".*" if greedy else ".*?")
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise _LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _shell_pattern(pattern, greedy=greedy, anchored=True).search(value)
    return value[m.end():] if m else value


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # As upstream: reverse pattern and value so the shortest rightmost match becomes leftmost.
    chars = list(pattern)
    out: List[str] = []
    i = 0
    while i < len(chars):
        if chars[i] == "\\" and i + 1 < len(chars):
            out.insert(0, chars[i + 1])
            out.insert(0, "\\")
            i += 2
        else:
            out.insert(0, chars[i])
            i += 1
    return _trim_prefix("".join(out), value[::-1], greedy)[::-1]


def _expand(word: str, env: Mapping[str, str], escape: str) -> str:
    return _Lex(escape, env).process(word)[0]


# --------------------------------------------------------------------------------------------
# The line parser (buildkit frontend/dockerfile/parser).

@dataclass
class _Node:
    cmd: str                       # lowercased instruction
    flags: List[str]
    args: List[str]
    json: bool
    start: int
    end: int
    sub: Optional["_Node"] = None  # ONBUILD's trigger


def _parse_words(rest: str, escape: str) -> List[str]:
    """parseWords: split on whitespace, keep quotes and escapes (they are removed later)."""
    words: List[str] = []
    IN_SPACES, IN_WORD, IN_QUOTE = 0, 1, 2
    phase = IN_SPACES
    quote = ""
    blank_ok = False
    buf: List[str] = []
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == IN_SPACES:
            if pos == n:
                break
            if ch in _GO_SPACE:
                pos += 1
                continue
            phase = IN_WORD
        if phase in (IN_WORD, IN_QUOTE) and pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == IN_WORD:
            if ch in _GO_SPACE:
                phase = IN_SPACES
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = IN_QUOTE
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        if phase == IN_QUOTE:
            if ch == quote:
                phase = IN_WORD
            if ch == escape and quote != "'":
                if pos + 1 == n:
                    phase = IN_WORD
                    pos += 1
                    continue
                pos += 1
                buf.append(ch)
                ch = rest[pos]
            buf.append(ch)
            pos += 1
    return words


def _extract_flags(line: str) -> Tuple[str, List[str]]:
    """extractBuilderFlags: leading ``--name[=value]`` words. Always '\\'-escaped, like upstream."""
    words: List[str] = []
    IN_SPACES, IN_WORD, IN_QUOTE = 0, 1, 2
    phase = IN_SPACES
    word: List[str] = []
    quote = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == IN_SPACES:
            if pos == n:
                break
            if ch in _GO_SPACE:
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = IN_WORD
        if phase in (IN_WORD, IN_QUOTE) and pos == n:
            if "".join(word) != "--" and (blank_ok or word):
                words.append("".join(word))
            break
        if phase == IN_WORD:
            if ch in _GO_SPACE:
                phase = IN_SPACES
                if "".join(word) == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = IN_QUOTE
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        if phase == IN_QUOTE:
            if ch == quote:
                phase = IN_WORD
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    phase = IN_WORD
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
    return "", words


def _reject_constant(name: str) -> None:
    raise ValueError(name)          # Go's encoding/json has no NaN or Infinity


def _parse_json(rest: str) -> Optional[List[str]]:
    """parseJSON: a JSON array of strings, or None when ``rest`` is not a JSON array."""
    rest = _go_trim_left(rest)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _LexError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _split_ws(rest: str) -> List[str]:
    return _RE_WHITESPACE.split(rest) if rest else []


def _node_from_line(line: str, escape: str, start: int, end: int) -> _Node:
    stripped = _go_trim(line)
    parts = _RE_WHITESPACE.split(stripped, maxsplit=1)
    cmd = parts[0].lower()
    rest, flags = ("", [])
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
    rest = _go_trim(rest)
    node = _Node(cmd, flags, [], False, start, end)
    try:
        if cmd in ("add", "copy", "volume"):
            js = _parse_json(rest)
            node.args, node.json = (js, True) if js is not None else (_split_ws(rest), False)
        elif cmd in ("cmd", "entrypoint", "run", "shell"):
            js = _parse_json(rest) if rest else None
            node.args, node.json = (js, True) if js is not None else ([rest] if rest else [], False)
        elif cmd in ("from", "expose"):
            node.args = _split_ws(rest)
        elif cmd == "arg":
            node.args = _parse_words(rest, escape)
        elif cmd in ("env", "label"):
            node.args = _parse_name_val(rest, cmd.upper(), escape)
        elif cmd == "onbuild":
            if rest:
                node.sub = _node_from_line(rest, escape, start, end)
                node.args = [node.sub.cmd]
        elif cmd == "healthcheck":
            node.args = rest.split() if rest else []
        else:
            node.args = [rest] if rest else []
    except _LexError as exc:
        raise DockerfileError(start, str(exc)) from None
    return node


def _parse_name_val(rest: str, key: str, escape: str) -> List[str]:
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _LexError(f"{key} must have two arguments")
        return parts
    out: List[str] = []
    for word in words:
        if "=" not in word:
            raise _LexError(f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        out.extend(word.split("=", 1))
    return out


def _heredoc_names(line: str) -> List[Tuple[str, bool]]:
    """heredocsFromLine: (terminator, chomp) for each heredoc word of ``line``."""
    try:
        _, words = _Lex("\\", {}, raw_quotes=True, raw_escapes=True, skip_unset=True).process(line)
    except _LexError:
        return []
    docs: List[Tuple[str, bool]] = []
    for word in words:
        m = _RE_HEREDOC.match(word)
        if not m or not m.group(3):
            continue
        rest = m.group(3)
        names = _Lex("\\", {}, skip_unset=True).process(rest)[1]
        if len(names) != 1:
            continue
        docs.append((names[0], m.group(2) == "-"))
    return docs


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.done = False
        self.seen: set = set()
        self._set_continuation()

    def _set_continuation(self) -> None:
        e = re.escape(self.escape)
        self.continuation = re.compile(r"([^%s])%s[ \t]*\Z|^%s[ \t]*\Z" % (e, e, e), re.DOTALL)

    def check(self, line: str, lineno: int) -> None:
        if self.done:
            return
        m = _RE_DIRECTIVE.match(line)
        if not m:
            self.done = True
            return
        key = m.group(1).lower()
        if key not in _VALID_DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise DockerfileError(lineno, f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            value = m.group(2)
            if value not in ("`", "\\"):
                raise DockerfileError(lineno, f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self._set_continuation()

    def trim_continuation(self, line: str) -> Tuple[str, bool]:
        if self.continuation.search(line):
            return self.continuation.sub(lambda m: m.group(1) or "", line), False
        return line, True


def _trim_newline(s: str) -> str:
    return s.rstrip("\r\n")


def _is_comment(raw: str) -> bool:
    return _go_trim_left(_trim_newline(raw)).startswith("#")


def _parse_lines(text: str) -> Tuple[List[_Node], str]:
    """parser.Parse: logical instructions with their line spans, and the escape character."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()                 # a final newline ends the last line; it does not start one
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    d = _Directives()
    nodes: List[_Node] = []
    current = 0
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        token = _go_trim_left(_trim_newline(raw))
        d.check(token, current + 1)
        if token.startswith("#"):
            token = ""
        current += 1
        start = current
        line, end_of_line = d.trim_continuation(token)
        if end_of_line and line == "":
            continue
        while not end_of_line and i < len(lines):
            raw = lines[i]
            i += 1
            token = _trim_newline(raw)
            d.check(token, current + 1)
            if token.startswith("#"):
                token = ""
            current += 1
            if _is_comment(raw):
                continue
            if not _go_trim_left(token):
                continue
            cont, end_of_line = d.trim_continuation(token)
            line += cont
        node = _node_from_line(line, d.escape, start, current)
        target = node.sub if node.cmd == "onbuild" and node.sub is not None else node
        if target.cmd in _HEREDOC_INSTRUCTIONS and not target.json:
            try:
                docs = _heredoc_names(line)
            except _LexError as exc:
                raise DockerfileError(start, str(exc)) from None
            for name, chomp in docs:
                terminated = False
                while i < len(lines):
                    candidate = _trim_newline(lines[i])
                    i += 1
                    current += 1
                    if chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == name:
                        terminated = True
                        break
                if not terminated:
                    raise DockerfileError(start, "unterminated heredoc")
            node.end = current
        nodes.append(node)
    if not nodes:
        raise DockerfileError(0, "file with no instructions")
    return nodes, d.escape


# --------------------------------------------------------------------------------------------
# Instructions (buildkit frontend/dockerfile/instructions) and the classic builder's dispatch.

@dataclass
class _Stage:
    base: str
    name: str
    line: int
    commands: List[_Node]


def _flag_values(node: _Node, known: Sequence[str], strict: bool) -> Dict[str, List[str]]:
    """BFlags.Parse for the flags that matter here. Unknown flags fail only when ``strict``."""
    values: Dict[str, List[str]] = {}
    for flag in node.flags:
        if flag == "--":
            break
        name, eq, value = flag[2:].partition("=")
        if name not in known:
            if strict:
                hint = difflib.get_close_matches(name, known, n=1)
                raise DockerfileError(node.start, f"unknown flag: {name}"
                                      + (f" (did you mean {hint[0]}?)" if hint else ""))
            continue
        if not eq:
            raise DockerfileError(node.start, f"missing a value on flag: {name}")
        if name in values and name != "mount":
            raise DockerfileError(node.start, f"duplicate flag specified: {name}")
        values.setdefault(name, []).append(value)
    return values


def _check_instruction(node: _Node) -> None:
    """The parse-time errors of ``instructions.ParseInstruction`` that are cheap to mirror."""
    cmd, args = node.cmd, node.args
    if cmd not in _INSTRUCTIONS:
        hint = difflib.get_close_matches(cmd, _INSTRUCTIONS, n=1)
        raise DockerfileError(node.start, f"unknown instruction: {cmd.upper()}"
                              + (f" (did you mean {hint[0].upper()}?)" if hint else ""))
    if cmd in ("copy", "add") and len(args) < 2:
        raise DockerfileError(node.start, f"{cmd.upper()} requires at least two arguments, but only one "
                                          "was provided. Destination could not be determined.")
    if cmd == "arg":
        if not args:
            raise DockerfileError(node.start, "ARG requires at least one argument")
        for word in args:
            if word == "" or word.startswith("="):
                raise DockerfileError(node.start, "ARG names can not be blank")
    if cmd in ("env", "label"):
        if not args:
            raise DockerfileError(node.start, f"{cmd.upper()} requires at least one argument")
        if any(not key for key in args[::2]):
            raise DockerfileError(node.start, f"{cmd.upper()} names can not be blank")
    if cmd == "onbuild":
        if not args:
            raise DockerfileError(node.start, "ONBUILD requires at least one argument")
        trigger = args[0].upper()
        if trigger == "ONBUILD":
            raise DockerfileError(node.start, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise DockerfileError(node.start, f"{trigger} isn't allowed as an ONBUILD trigger")


def _stage_of(node: _Node) -> _Stage:
    args = node.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _RE_STAGE_NAME.match(name):
            raise DockerfileError(node.start, f"invalid name for build stage: {args[2]!r}, name can't start "
                                              "with a number or contain symbols")
    elif len(args) != 1:
        raise DockerfileError(node.start, "FROM requires either one or three arguments")
    _flag_values(node, ("platform",), strict=True)
    return _Stage(args[0], name, node.start, [])


def _arg_pairs(node: _Node) -> List[Tuple[str, Optional[str]]]:
    out: List[Tuple[str, Optional[str]]] = []
    for word in node.args:
        name, eq, value = word.partition("=")
        out.append((name, value if eq else None))
    return out


def _image_reference(value: str, line: int, via: str) -> Reference:
    # A full image ID is not a valid name, but the classic builder looks IDs up locally.
    problem = None if re.match(r"^[a-f0-9]{64}\Z", value) else refs.validate_reference(value)
    if problem:
        hint = ""
        if "$" in value and via == "COPY --from":
            hint = ("; the classic builder does not expand variables in COPY --from, "
                    "use a stage instead (FROM ${VAR} AS name, then COPY --from=name)")
        raise DockerfileError(line, f"{via} {value}: {problem}{hint}")
    return Reference(value, via, line)


def parse_dockerfile(text: str, build_args: Mapping[str, str] = {},  # noqa: B006 - never mutated
                     target: Optional[str] = None) -> DockerfileInfo:
    """Read ``text`` as the engine would with ``build_args`` and ``target``; see the module doc."""
    nodes, escape = _parse_lines(text)

    meta: List[_Node] = []
    stages: List[_Stage] = []
    for node in nodes:
        _check_instruction(node)
        if node.cmd == "from":
            stages.append(_stage_of(node))
        elif not stages:
            if node.cmd != "arg":
                raise DockerfileError(node.start, "no build stage in current context")
            meta.append(node)
        else:
            stages[-1].commands.append(node)
            if node.cmd == "copy":
                _flag_values(node, ("from", "chown", "chmod", "link", "parents", "exclude"), strict=False)

    all_names = {s.name for s in stages if s.name}     # BuildKit resolves mount sources file-wide
    if target:
        index = next((i for i, s in enumerate(stages) if s.name == target.lower()), None)
        if index is None:
            hint = difflib.get_close_matches(target.lower(), [s.name for s in stages if s.name], n=1)
            raise DockerfileError(0, f"target stage {target!r} could not be found"
                                  + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        stages = stages[:index + 1]

    # Meta ARGs: each default is expanded with the args declared before it (overrides applied).
    declared: Dict[str, Optional[str]] = {}

    def env() -> Dict[str, str]:
        out = {k: build_args[k] for k in _BUILTIN_ARGS if k in build_args}
        for key, default in declared.items():
            if key in build_args:
                out[key] = build_args[key]
            elif default is not None:
                out[key] = default
        return out

    for node in meta:
        current = env()
        expanded: List[Tuple[str, Optional[str]]] = []
        try:
            for key, value in _arg_pairs(node):
                expanded.append((_expand(key, current, escape),
                                 None if value is None else _expand(value, current, escape)))
        except _LexError as exc:
            raise DockerfileError(node.start, str(exc)) from None
        for key, value in expanded:
            declared[key] = value
    from_env = env()

    references: List[Reference] = []
    built: List[str] = []
    for index, stage in enumerate(stages):
        if stage.name and stage.name in built:
            raise DockerfileError(stage.line, f"{stage.name} stage name already used")
        try:
            base = _expand(stage.base, from_env, escape)
        except _LexError as exc:
            raise DockerfileError(stage.line, str(exc)) from None
        if base == "":
            raise DockerfileError(stage.line, f"base name ({stage.base}) should not be blank")
        if base.lower() not in built and base != "scratch":
            references.append(_image_reference(base, stage.line, "FROM"))
        for node in stage.commands:
            if node.cmd == "copy":
                source = _flag_values(node, ("from",), strict=False).get("from", [""])[0]
                if not source or source.lower() in built:
                    continue
                if _RE_INT.match(source) and -2 ** 63 <= int(source) < 2 ** 63:
                    ix = int(source)
                    if ix == index:
                        raise DockerfileError(node.start, f"invalid from flag value {source}: "
                                                          "refers to current build stage")
                    if ix < 0 or ix > index:
                        raise DockerfileError(node.start, f"invalid from flag value {source}: "
                                                          "index out of bounds")
                    continue
                if source != "scratch":
                    references.append(_image_reference(source, node.start, "COPY --from"))
            elif node.cmd == "run":
                for mount in _flag_values(node, ("mount",), strict=False).get("mount", []):
                    source = _mount_from(mount, node.start)
                    if (not source or source.lower() in all_names or source == "scratch"
                            or _RE_INT.match(source)):
                        continue
                    references.append(_image_reference(source, node.start, "RUN --mount"))
        built.append(stage.name)

    steps = len(meta) + sum(1 + len(s.commands) for s in stages)
    return DockerfileInfo(tuple(references), tuple(s.name for s in stages), steps)


def _mount_from(value: str, line: int) -> str:
    try:
        fields = next(csv.reader([value], strict=True), [])
    except csv.Error as exc:
        raise DockerfileError(line, f"failed to parse csv mounts: {exc}") from None
    source = ""
    for field in fields:
        key, eq, val = field.partition("=")
        if eq and key.lower() == "from":
            if re.search(r"\$.", val, re.DOTALL):
                raise DockerfileError(line, "'from' doesn't support variable expansion, define alias stage instead")
            source = val
    return source
