"""Go's text/template, the part of it that people use with ``docker image inspect --format``.

``images inspect NAME --format TEMPLATE`` must print what ``docker image inspect --format``
prints for the same template, so this module follows Go's own lexer, parser and evaluator
(text/template as built into docker CLI 28, Go 1.24) rather than approximating them, and
formats values the way Go's fmt and encoding/json do.

Two entry points:

- :func:`render` executes a template over plain JSON data (dicts, lists, str, int, float, bool,
  None), with the semantics Go gives a ``map[string]interface{}``: a missing key prints
  ``<no value>``, maps range in sorted key order, ``json`` keeps the key order of the dict
  as it was received (the engine writes its objects in struct order).
- :func:`render_image_inspect` does what the docker CLI does with an image's inspect JSON:
  it executes the template over the CLI's typed ``image.InspectResponse`` (so a null
  ``Config.Entrypoint`` prints ``[]``, a missing label via ``index`` prints an empty string,
  ``{{json .Config}}`` shows the OCI image config) and, when that fails (say ``{{.Id}}``, whose
  struct field is ``ID``), executes it again over the raw JSON with ``missingkey=error``,
  exactly as the CLI falls back.

Supported: text, actions, comments and trim markers; fields, chains, variables (``:=`` and
``=``), pipelines, parenthesised pipelines; ``if``/``else if``/``else``, ``with``/``else with``,
``range`` (lists, maps, integers; one or two variables; ``else``; ``break``/``continue``);
``define``, ``template`` and ``block``; string, raw string, character, number (complex too), bool
and nil literals; Go's builtins (``and or not len index slice print printf println eq ne lt le
gt ge html js urlquery call``) and docker's (``json join split lower upper title pad
truncate``).

Where the output can differ from Go's, on purpose or because Go's cannot be reproduced:

- plain data: a float holding a whole number prints as an integer (``1234``, not ``1234.0``
  or ``1.234e+03``), as the CLI's typed int64 fields print; ``json`` of a dict keeps its key
  order; ``join`` accepts a list of strings (Go wants a ``[]string``, not ``[]interface{}``);
- a pointer inside a printed struct shows what it points to (Go prints an address);
- ``{{template}}`` nests at most 100 deep (Go: 100000);
- ``%#v`` prints as ``%v``; the data holds no methods or functions, so ``.Method args`` and
  ``call`` fail as Go fails on a non-function.

Errors are :class:`TemplateError`. Execution errors read as Go writes them,
``template: :1:9: executing "" at <.Config.Nope>: map has no entry for key "Nope"``; parse
errors follow the same shape, with the column added (Go gives only the line). Columns, like
Go's, are byte offsets from the start of the line, counted from 0.
"""
from __future__ import annotations

import copy
import math
import re
import unicodedata
from decimal import Decimal
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

__all__ = ["Template", "TemplateError", "parse", "render", "render_image_inspect"]


class TemplateError(Exception):
    """A template that cannot be parsed or executed.

    ``str(error)`` is the whole message, ``template: :LINE:COLUMN: ...``; ``line`` and
    ``column`` locate the problem (column: byte offset in the line, from 0) and ``reason`` is
    the message without the location.
    """

    def __init__(self, message: str, *, line: int, column: int, reason: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.reason = reason


def parse(template: str) -> "Template":
    """Parse ``template``; raises :class:`TemplateError` when it is malformed."""
    return Template(template)


def render(template: str, data: Any) -> str:
    """Execute ``template`` over JSON-like ``data`` and return the text it produces."""
    return Template(template).render(data)


def render_image_inspect(template: str, inspect: Dict[str, Any]) -> str:
    """Execute ``template`` over one image's inspect JSON as ``docker image inspect --format``
    does (without the newline the CLI adds after each image)."""
    return Template(template).render_image_inspect(inspect)


class Template:
    """A parsed template, reusable for any number of executions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._root, self._trees = _Parser(text).parse()

    def render(self, data: Any) -> str:
        """Execute over JSON-like data: see :func:`render`."""
        return _State(self, data, _Options()).run(self._root)

    def render_image_inspect(self, inspect: Dict[str, Any]) -> str:
        """Execute over an image's inspect JSON: see :func:`render_image_inspect`."""
        try:
            return _State(self, _wrap(_IMAGE_INSPECT, inspect), _Options()).run(self._root)
        except TemplateError:
            # The CLI executes over its typed struct first and, on any execution error,
            # again over the raw JSON decoded with UseNumber and missingkey=error
            # (docker/cli cli/command/inspect/inspector.go, tryRawInspectFallback).
            raw = _with_json_numbers(inspect)
            options = _Options(missing_key_error=True, strict_lists=True, sort_json_keys=True)
            return _State(self, raw, options).run(self._root)


# --------------------------------------------------------------------------------------------
# Lexer: a port of text/template/parse/lex.go. Positions are indexes into the Python string;
# they become byte offsets only when an error message is written.

_EOF = ""
_SPACE_CHARS = " \t\r\n"
_KEYWORDS = {
    "block": "block", "break": "break", "continue": "continue", "define": "define",
    "else": "else", "end": "end", "if": "if", "range": "range", "nil": "nil",
    "template": "template", "with": "with",
}
_KEYWORD_TYPES = set(_KEYWORDS.values()) | {"dot"}


class _Item:
    __slots__ = ("typ", "pos", "val", "line")

    def __init__(self, typ: str, pos: int, val: str, line: int) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val
        self.line = line

    def __str__(self) -> str:  # Go's item.String, used in "unexpected ..." messages
        if self.typ == "eof":
            return "EOF"
        if self.typ == "error":
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


def _is_space(ch: str) -> bool:
    return ch != "" and ch in _SPACE_CHARS


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or (ch != "" and unicodedata.category(ch) == "Nd")


def _has_left_trim(text: str, pos: int) -> bool:
    return text[pos:pos + 1] == "-" and _is_space(text[pos + 1:pos + 2])


def _has_right_trim(text: str, pos: int) -> bool:
    return _is_space(text[pos:pos + 1]) and text[pos + 1:pos + 2] == "-"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = 1
        self.start_line = 1
        self.inside_action = False
        self.failed = False

    def next_item(self) -> _Item:
        if self.failed:
            return _Item("eof", self.pos, "EOF", self.start_line)
        state: Callable[[], Any] = self._inside_action if self.inside_action else self._text
        while True:
            result = state()
            if isinstance(result, _Item):
                return result
            state = result

    # -- helpers

    def _next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return _EOF
        ch = self.input[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
        return ch

    def _peek(self) -> str:
        ch = self._next()
        self._backup()
        return ch

    def _backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def _item(self, typ: str) -> _Item:
        item = _Item(typ, self.start, self.input[self.start:self.pos], self.start_line)
        self.start = self.pos
        self.start_line = self.line
        return item

    def _ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def _accept(self, valid: str) -> bool:
        ch = self._next()
        if ch != _EOF and ch in valid:
            return True
        self._backup()
        return False

    def _accept_run(self, valid: str) -> None:
        while True:
            ch = self._next()
            if ch == _EOF or ch not in valid:
                break
        self._backup()

    def _error(self, message: str, at_current: bool = False) -> _Item:
        # Go reports the start of the item being scanned; a bad character is shown where it is.
        pos = self.pos if at_current else self.start
        item = _Item("error", pos, message, self.start_line)
        self.failed = True
        return item

    def _at_right_delim(self) -> Tuple[bool, bool]:
        if _has_right_trim(self.input, self.pos) and self.input.startswith("}}", self.pos + 2):
            return True, True
        if self.input.startswith("}}", self.pos):
            return True, False
        return False, False

    def _at_terminator(self) -> bool:
        ch = self._peek()
        if ch == _EOF or _is_space(ch) or ch in ".,|:)(":
            return True
        return self.input.startswith("}}", self.pos)

    # -- states

    def _text(self) -> Any:
        x = self.input.find("{{", self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                if _has_left_trim(self.input, self.pos + 2):
                    chunk = self.input[self.start:self.pos]
                    trim = len(chunk) - len(chunk.rstrip(_SPACE_CHARS))
                self.pos -= trim
                self.line += self.input.count("\n", self.start, self.pos)
                item = self._item("text")
                self.pos += trim
                self._ignore()
                if item.val:
                    return item
            return self._left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            return self._item("text")
        return self._item("eof")

    def _left_delim(self) -> Any:
        self.pos += 2
        after = 2 if _has_left_trim(self.input, self.pos) else 0
        if self.input.startswith("/*", self.pos + after):
            self.pos += after
            self._ignore()
            return self._comment
        item = self._item("leftdelim")
        self.inside_action = True
        self.pos += after
        self._ignore()
        self.paren_depth = 0
        return item

    def _comment(self) -> Any:
        self.pos += 2
        x = self.input.find("*/", self.pos)
        if x < 0:
            return self._error("unclosed comment")
        self.pos = x + 2
        delim, trim = self._at_right_delim()
        if not delim:
            return self._error("comment ends before closing delimiter")
        self.line += self.input.count("\n", self.start, self.pos)
        self._item("comment")  # comments are not passed to the parser
        if trim:
            self.pos += 2
        self.pos += 2
        if trim:
            rest = self.input[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(_SPACE_CHARS))
        self._ignore()
        return self._text

    def _right_delim(self) -> Any:
        _, trim = self._at_right_delim()
        if trim:
            self.pos += 2
            self._ignore()
        self.pos += 2
        item = self._item("rightdelim")
        if trim:
            rest = self.input[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(_SPACE_CHARS))
            self._ignore()
        self.inside_action = False
        return item

    def _inside_action(self) -> Any:
        delim, _ = self._at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self._right_delim
            return self._error("unclosed left paren")
        ch = self._next()
        if ch == _EOF:
            return self._error("unclosed action")
        if _is_space(ch):
            self._backup()  # the space may start " -}}"
            return self._space
        if ch == "=":
            return self._item("assign")
        if ch == ":":
            if self._next() != "=":
                return self._error("expected :=")
            return self._item("declare")
        if ch == "|":
            return self._item("pipe")
        if ch == '"':
            return self._quote
        if ch == "`":
            return self._raw_quote
        if ch == "$":
            return self._variable
        if ch == "'":
            return self._char
        if ch == ".":
            if self.pos < len(self.input) and not ("0" <= self.input[self.pos] <= "9"):
                return self._field
            self._backup()  # '.' can start a number
            return self._number
        if ch in "+-" or "0" <= ch <= "9":
            self._backup()
            return self._number
        if _is_alnum(ch):
            self._backup()
            return self._identifier
        if ch == "(":
            self.paren_depth += 1
            return self._item("leftparen")
        if ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self._error("unexpected right paren")
            return self._item("rightparen")
        if ord(ch) <= 0x7F and _is_print(ch):
            return self._item("char")
        return self._error(f"unrecognized character in action: {_fmt_rune(ch)}")

    def _space(self) -> Any:
        count = 0
        while _is_space(self._peek()):
            self._next()
            count += 1
        # The last space may belong to a trim-marked right delimiter " -}}".
        if _has_right_trim(self.input, self.pos - 1) and self.input.startswith("}}", self.pos + 1):
            self._backup()
            if count == 1:
                return self._right_delim
        return self._item("space")

    def _identifier(self) -> Any:
        while True:
            ch = self._next()
            if ch != _EOF and _is_alnum(ch):
                continue
            self._backup()
            word = self.input[self.start:self.pos]
            if not self._at_terminator():
                return self._error(f"bad character {_fmt_rune(ch)}", at_current=True)
            if word in _KEYWORDS:
                return self._item(_KEYWORDS[word])
            if word in ("true", "false"):
                return self._item("bool")
            return self._item("identifier")

    def _field(self) -> Any:
        return self._field_or_variable("field")

    def _variable(self) -> Any:
        if self._at_terminator():
            return self._item("variable")
        return self._field_or_variable("variable")

    def _field_or_variable(self, typ: str) -> Any:
        if self._at_terminator():
            return self._item("variable" if typ == "variable" else "dot")
        while True:
            ch = self._next()
            if ch == _EOF or not _is_alnum(ch):
                self._backup()
                break
        if not self._at_terminator():
            return self._error(f"bad character {_fmt_rune(ch)}", at_current=True)
        return self._item(typ)

    def _char(self) -> Any:
        while True:
            ch = self._next()
            if ch == "\\":
                after = self._next()
                if after != _EOF and after != "\n":
                    continue
                return self._error("unterminated character constant")
            if ch == _EOF or ch == "\n":
                return self._error("unterminated character constant")
            if ch == "'":
                return self._item("charconst")

    def _number(self) -> Any:
        if not self._scan_number():
            return self._error(f"bad number syntax: {_go_quote(self.input[self.start:self.pos])}")
        if self._peek() in ("+", "-"):
            # Complex: 1+2i. No spaces, must end in 'i'.
            if not self._scan_number() or self.input[self.pos - 1] != "i":
                return self._error(f"bad number syntax: {_go_quote(self.input[self.start:self.pos])}")
            return self._item("complex")
        return self._item("number")

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if _is_alnum(self._peek()):
            self._next()
            return False
        return True

    def _quote(self) -> Any:
        while True:
            ch = self._next()
            if ch == "\\":
                after = self._next()
                if after != _EOF and after != "\n":
                    continue
                return self._error("unterminated quoted string")
            if ch == _EOF or ch == "\n":
                return self._error("unterminated quoted string")
            if ch == '"':
                return self._item("string")

    def _raw_quote(self) -> Any:
        while True:
            ch = self._next()
            if ch == _EOF:
                return self._error("unterminated raw quoted string")
            if ch == "`":
                return self._item("rawstring")


# --------------------------------------------------------------------------------------------
# Parse tree. Each node's str() is Go's Node.String(), which execution errors quote.

class _Node:
    pos: int = 0


class _ListNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.nodes: List[_Node] = []

    def __str__(self) -> str:
        return "".join(str(node) for node in self.nodes)


class _TextNode(_Node):
    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos
        self.text = text

    def __str__(self) -> str:
        return self.text


class _PipeNode(_Node):
    def __init__(self, pos: int, line: int) -> None:
        self.pos = pos
        self.line = line
        self.is_assign = False
        self.decl: List[_VariableNode] = []
        self.cmds: List[_CommandNode] = []

    def __str__(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return text + " | ".join(str(c) for c in self.cmds)


class _ActionNode(_Node):
    def __init__(self, pos: int, line: int, pipe: _PipeNode) -> None:
        self.pos = pos
        self.line = line
        self.pipe = pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _CommandNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.args: List[_Node] = []

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, _PipeNode) else str(arg) for arg in self.args)


class _IdentifierNode(_Node):
    def __init__(self, pos: int, ident: str) -> None:
        self.pos = pos
        self.ident = ident

    def __str__(self) -> str:
        return self.ident


class _VariableNode(_Node):
    def __init__(self, pos: int, ident: str) -> None:
        self.pos = pos
        self.ident = ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class _DotNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "."


class _NilNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "nil"


class _FieldNode(_Node):
    def __init__(self, pos: int, ident: str) -> None:
        self.pos = pos
        self.ident = ident[1:].split(".")

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


class _ChainNode(_Node):
    def __init__(self, pos: int, node: _Node) -> None:
        self.pos = pos
        self.node = node
        self.fields: List[str] = []

    def add(self, field: str) -> None:
        self.fields.append(field[1:] if field.startswith(".") else field)

    def __str__(self) -> str:
        text = f"({self.node})" if isinstance(self.node, _PipeNode) else str(self.node)
        return text + "".join("." + name for name in self.fields)


class _BoolNode(_Node):
    def __init__(self, pos: int, value: bool) -> None:
        self.pos = pos
        self.value = value

    def __str__(self) -> str:
        return "true" if self.value else "false"


class _NumberNode(_Node):
    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos
        self.text = text
        self.is_int = False
        self.is_uint = False
        self.is_float = False
        self.is_complex = False
        self.int_value = 0
        self.float_value = 0.0
        self.complex_value = 0j

    def __str__(self) -> str:
        return self.text


class _StringNode(_Node):
    def __init__(self, pos: int, quoted: str, text: str) -> None:
        self.pos = pos
        self.quoted = quoted
        self.text = text

    def __str__(self) -> str:
        return self.quoted


class _BranchNode(_Node):
    keyword = ""

    def __init__(self, pos: int, line: int, pipe: _PipeNode, body: _ListNode,
                 else_body: Optional[_ListNode]) -> None:
        self.pos = pos
        self.line = line
        self.pipe = pipe
        self.body = body
        self.else_body = else_body

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


class _IfNode(_BranchNode):
    keyword = "if"


class _WithNode(_BranchNode):
    keyword = "with"


class _RangeNode(_BranchNode):
    keyword = "range"


class _BreakNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{break}}"


class _ContinueNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{continue}}"


class _TemplateNode(_Node):
    def __init__(self, pos: int, line: int, name: str, pipe: Optional[_PipeNode]) -> None:
        self.pos = pos
        self.line = line
        self.name = name
        self.pipe = pipe

    def __str__(self) -> str:
        if self.pipe is None:
            return "{{template " + _go_quote(self.name) + "}}"
        return "{{template " + _go_quote(self.name) + " " + str(self.pipe) + "}}"


def _is_empty_tree(node: _Node) -> bool:
    """Only blank text: such a definition may be redefined (parse.IsEmptyTree)."""
    if isinstance(node, _ListNode):
        return all(_is_empty_tree(child) for child in node.nodes)
    if isinstance(node, _TextNode):
        return not node.text.strip()
    return False


class _EndNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{end}}"


class _ElseNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{else}}"


# --------------------------------------------------------------------------------------------
# Parser: a port of text/template/parse/parse.go, with its three-token lookahead.

_TERM_STARTS = {"bool", "charconst", "complex", "dot", "field", "identifier", "number", "nil",
                "rawstring", "string", "variable", "leftparen"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lex = _Lexer(text)
        self.token: List[_Item] = [_Item("eof", 0, "", 1)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.trees: Dict[str, _ListNode] = {}

    def parse(self) -> Tuple[_ListNode, Dict[str, _ListNode]]:
        """The template's own tree, and every tree by name (its own is named "")."""
        try:
            root = self._parse()
        except RecursionError:
            self._errorf("max expression depth exceeded")
            raise  # not reached
        self._add("", root)
        return root, self.trees

    # -- token stream

    def _next(self) -> _Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def _backup(self) -> None:
        self.peek_count += 1

    def _backup2(self, t1: _Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def _backup3(self, t2: _Item, t1: _Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def _peek(self) -> _Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def _next_non_space(self) -> _Item:
        while True:
            token = self._next()
            if token.typ != "space":
                return token

    def _peek_non_space(self) -> _Item:
        token = self._next_non_space()
        self._backup()
        return token

    # -- errors

    def _errorf(self, reason: str, pos: Optional[int] = None) -> None:
        """Stop with ``reason``. Go names only the line of the last token read; the column
        added here points at ``pos`` when the caller knows the culprit, else at that token."""
        if pos is None:
            pos = self.token[0].pos
        line = 1 + self.text.count("\n", 0, pos)
        column = _byte_column(self.text, pos)
        raise TemplateError(f"template: :{line}:{column}: {reason}",
                            line=line, column=column, reason=reason)

    def _expect(self, expected: str, context: str) -> _Item:
        token = self._next_non_space()
        if token.typ != expected:
            self._unexpected(token, context)
        return token

    def _unexpected(self, token: _Item, context: str) -> None:
        if token.typ == "error":
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at :{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            self._errorf(f"{token}{extra}")
        self._errorf(f"unexpected {token} in {context}")

    # -- grammar

    def _parse(self) -> _ListNode:
        root = _ListNode(self._peek().pos)
        while self._peek().typ != "eof":
            if self._peek().typ == "leftdelim":
                delim = self._next()
                if self._next_non_space().typ == "define":
                    self._parse_definition()
                    continue
                self._backup2(delim)
            node = self._text_or_action()
            if isinstance(node, (_EndNode, _ElseNode)):
                self._errorf(f"unexpected {node}", node.pos)
            root.nodes.append(node)
        return root

    def _parse_definition(self) -> None:
        context = "define clause"
        token = self._next_non_space()
        if token.typ not in ("string", "rawstring"):
            self._unexpected(token, context)
        name = self._template_name(token, context)
        self._expect("rightdelim", context)
        self._add(name, self._parse_body(context), token.pos)

    def _parse_body(self, context: str) -> _ListNode:
        """The body of a define or block, which starts a template of its own: only $ is
        defined in it, and it is not inside any range."""
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        try:
            body, end = self._item_list()
            if not isinstance(end, _EndNode):
                self._errorf(f"unexpected {end} in {context}", end.pos)
            return body
        finally:
            self.vars, self.range_depth = saved

    def _add(self, name: str, root: _ListNode, pos: Optional[int] = None) -> None:
        existing = self.trees.get(name)
        if existing is None or _is_empty_tree(existing):
            self.trees[name] = root
        elif not _is_empty_tree(root):
            self._errorf(f"template: multiple definition of template {_go_quote(name)}", pos)

    def _template_name(self, token: _Item, context: str) -> str:
        if token.typ not in ("string", "rawstring"):
            self._unexpected(token, context)
        name = _unquote(token.val)
        if name is None:
            self._errorf("invalid syntax")
        return name or ""

    def _block_control(self) -> _Node:
        context = "block clause"
        token = self._next_non_space()
        name = self._template_name(token, context)
        pipe = self._pipeline(context, "rightdelim")
        self._add(name, self._parse_body(context), token.pos)
        return _TemplateNode(token.pos, token.line, name, pipe)

    def _template_control(self) -> _Node:
        context = "template clause"
        token = self._next_non_space()
        name = self._template_name(token, context)
        pipe = None
        if self._next_non_space().typ != "rightdelim":
            self._backup()
            # Variables declared here persist until the enclosing {{end}}.
            pipe = self._pipeline(context, "rightdelim")
        return _TemplateNode(token.pos, token.line, name, pipe)

    def _item_list(self) -> Tuple[_ListNode, _Node]:
        body = _ListNode(self._peek_non_space().pos)
        while self._peek_non_space().typ != "eof":
            node = self._text_or_action()
            if isinstance(node, (_EndNode, _ElseNode)):
                return body, node
            body.nodes.append(node)
        self._errorf("unexpected EOF")
        raise AssertionError("not reached")

    def _text_or_action(self) -> _Node:
        token = self._next_non_space()
        if token.typ == "text":
            return _TextNode(token.pos, token.val)
        if token.typ == "leftdelim":
            self.action_line = token.line
            try:
                return self._action()
            finally:
                self.action_line = 0
        self._unexpected(token, "input")
        raise AssertionError("not reached")

    def _action(self) -> _Node:
        token = self._next_non_space()
        typ = token.typ
        if typ == "block":
            return self._block_control()
        if typ == "template":
            return self._template_control()
        if typ == "break":
            return self._break_or_continue(token, _BreakNode)
        if typ == "continue":
            return self._break_or_continue(token, _ContinueNode)
        if typ == "else":
            return self._else_control(token)
        if typ == "end":
            self._expect("rightdelim", "end")
            return _EndNode(token.pos)
        if typ == "if":
            return _IfNode(*self._parse_control("if"))
        if typ == "range":
            return _RangeNode(*self._parse_control("range"))
        if typ == "with":
            return _WithNode(*self._parse_control("with"))
        self._backup()
        token = self._peek()
        # Variables declared here persist until the enclosing {{end}}.
        return _ActionNode(token.pos, token.line, self._pipeline("command", "rightdelim"))

    def _break_or_continue(self, token: _Item, node_type: type) -> _Node:
        name = token.typ
        after = self._next_non_space()
        if after.typ != "rightdelim":
            self._unexpected(after, f"{{{{{name}}}}}")
        if self.range_depth == 0:
            self._errorf(f"{{{{{name}}}}} outside {{{{range}}}}", token.pos)
        return node_type(token.pos)

    def _pipeline(self, context: str, end: str) -> _PipeNode:
        token = self._peek_non_space()
        pipe = _PipeNode(token.pos, token.line)
        while True:  # declarations, if any
            var = self._peek_non_space()
            if var.typ != "variable":
                break
            self._next()
            # "$x foo" needs three tokens of lookahead to tell an argument from a declaration.
            token_after = self._peek()
            following = self._peek_non_space()
            if following.typ in ("assign", "declare"):
                pipe.is_assign = following.typ == "assign"
                self._next_non_space()
                pipe.decl.append(_VariableNode(var.pos, var.val))
                self.vars.append(var.val)
            elif following.typ == "char" and following.val == ",":
                self._next_non_space()
                pipe.decl.append(_VariableNode(var.pos, var.val))
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self._peek_non_space().typ in ("variable", "rightdelim", "rightparen"):
                        continue  # the second variable of a range
                    self._errorf("range can only initialize variables")
                self._errorf(f"too many declarations in {context}")
            elif token_after.typ == "space":
                self._backup3(var, token_after)
            else:
                self._backup2(var)
            break
        while True:
            token = self._next_non_space()
            if token.typ == end:
                self._check_pipeline(pipe, context)
                return pipe
            if token.typ in _TERM_STARTS:
                self._backup()
                pipe.cmds.append(self._command())
            else:
                self._unexpected(token, context)

    def _check_pipeline(self, pipe: _PipeNode, context: str) -> None:
        if not pipe.cmds:
            self._errorf(f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], (_BoolNode, _DotNode, _NilNode, _NumberNode, _StringNode)):
                self._errorf(f"non executable command in pipeline stage {stage}", cmd.pos)

    def _parse_control(self, context: str) -> Tuple[int, int, _PipeNode, _ListNode, Optional[_ListNode]]:
        mark = len(self.vars)
        try:
            pipe = self._pipeline(context, "rightdelim")
            if context == "range":
                self.range_depth += 1
            body, following = self._item_list()
            if context == "range":
                self.range_depth -= 1
            else_body: Optional[_ListNode] = None
            if isinstance(following, _ElseNode):
                # "{{else if x}}" and "{{else with x}}" nest a new if/with in the else branch.
                if context == "if" and self._peek().typ == "if":
                    self._next()
                    else_body = _ListNode(following.pos)
                    else_body.nodes.append(_IfNode(*self._parse_control("if")))
                elif context == "with" and self._peek().typ == "with":
                    self._next()
                    else_body = _ListNode(following.pos)
                    else_body.nodes.append(_WithNode(*self._parse_control("with")))
                else:
                    else_body, following = self._item_list()
                    if not isinstance(following, _EndNode):
                        self._errorf(f"expected end; found {following}", following.pos)
            return pipe.pos, pipe.line, pipe, body, else_body
        finally:
            del self.vars[mark:]

    def _else_control(self, keyword: _Item) -> _Node:
        if self._peek_non_space().typ in ("if", "with"):
            return _ElseNode(keyword.pos)  # "else if"/"else with": the if/with follows
        self._expect("rightdelim", "else")
        return _ElseNode(keyword.pos)

    def _command(self) -> _CommandNode:
        cmd = _CommandNode(self._peek_non_space().pos)
        while True:
            self._peek_non_space()
            operand = self._operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self._next()
            if token.typ == "space":
                continue
            if token.typ in ("rightdelim", "rightparen"):
                self._backup()
            elif token.typ != "pipe":
                self._unexpected(token, "operand")
            break
        if not cmd.args:
            self._errorf("empty command")
        return cmd

    def _operand(self) -> Optional[_Node]:
        node = self._term()
        if node is None:
            return None
        if self._peek().typ == "field":
            chain = _ChainNode(self._peek().pos, node)
            while self._peek().typ == "field":
                chain.add(self._next().val)
            if isinstance(node, _FieldNode):
                return _FieldNode(chain.pos, str(chain))
            if isinstance(node, _VariableNode):
                return _VariableNode(chain.pos, str(chain))
            if isinstance(node, (_BoolNode, _StringNode, _NumberNode, _NilNode, _DotNode)):
                self._errorf(f"unexpected . after term {_go_quote(str(node))}", chain.pos)
            return chain
        return node

    def _term(self) -> Optional[_Node]:
        token = self._next_non_space()
        typ = token.typ
        if typ == "identifier":
            if token.val not in _FUNCS:
                self._errorf(f"function {_go_quote(token.val)} not defined")
            return _IdentifierNode(token.pos, token.val)
        if typ == "dot":
            return _DotNode(token.pos)
        if typ == "nil":
            return _NilNode(token.pos)
        if typ == "variable":
            node = _VariableNode(token.pos, token.val)
            if node.ident[0] not in self.vars:
                self._errorf(f"undefined variable {_go_quote(node.ident[0])}", token.pos)
            return node
        if typ == "field":
            return _FieldNode(token.pos, token.val)
        if typ == "bool":
            return _BoolNode(token.pos, token.val == "true")
        if typ in ("charconst", "number", "complex"):
            return self._number(token)
        if typ == "leftparen":
            return self._pipeline("parenthesized pipeline", "rightparen")
        if typ in ("string", "rawstring"):
            text = _unquote(token.val)
            if text is None:
                self._errorf("invalid syntax")
            return _StringNode(token.pos, token.val, text or "")
        self._backup()
        return None

    def _number(self, token: _Item) -> _NumberNode:
        text = token.val
        node = _NumberNode(token.pos, text)
        if token.typ == "charconst":
            decoded, problem = _unquote_char(text)
            if problem:
                self._errorf(problem)
            value = ord(decoded)
            node.is_int = node.is_uint = node.is_float = True
            node.int_value = value
            node.float_value = float(value)
            return node
        if token.typ == "complex" or text.endswith("i"):
            value = _parse_go_complex(text)
            if value is not None:
                node.is_complex = True
                node.complex_value = value
                if value.imag == 0:  # Go's simplifyComplex
                    node.is_float = True
                    node.float_value = value.real
                    if value.real == int(value.real):
                        node.is_int = True
                        node.is_uint = value.real >= 0
                        node.int_value = int(value.real)
                return node
            if token.typ == "complex":
                self._errorf(f"illegal number syntax: {_go_quote(text)}")
        as_int = _parse_go_int(text)
        if as_int is not None and not -(1 << 63) <= as_int < (1 << 64):
            as_int = None  # out of range for int64 and uint64: Go tries it as a float
        if as_int is not None:
            if -(1 << 63) <= as_int < (1 << 63):
                node.is_int = True
                node.int_value = as_int
            if 0 <= as_int < (1 << 64):
                node.is_uint = True
            if node.is_int or node.is_uint:
                node.is_float = True
                node.float_value = float(as_int)
        else:
            as_float = _parse_go_float(text)
            if as_float is not None:
                if not any(c in text for c in ".eEpP"):
                    self._errorf(f"integer overflow: {_go_quote(text)}")
                node.is_float = True
                node.float_value = as_float
                if math.isfinite(as_float) and as_float == int(as_float):
                    whole = int(as_float)
                    if -(1 << 63) <= whole < (1 << 63):
                        node.is_int = True
                        node.int_value = whole
                    if 0 <= whole < (1 << 64):
                        node.is_uint = True
        if not (node.is_int or node.is_uint or node.is_float):
            self._errorf(f"illegal number syntax: {_go_quote(text)}")
        return node


_GO_INT = re.compile(r"[+-]?(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?[0-7])*|[1-9](_?[0-9])*)")


def _parse_go_int(text: str) -> Optional[int]:
    """strconv.ParseInt(text, 0, 64) without the range check (done by the caller)."""
    if not _GO_INT.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "")
    if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
        return sign * int(body, 8)  # Go still reads a leading 0 as octal
    return sign * int(body, 0)


def _parse_go_complex(text: str) -> Optional[complex]:
    """1+2i or 2i."""
    if not text.endswith("i"):
        return None
    body = text[:-1]
    split = 0
    for i in range(len(body) - 1, 0, -1):
        if body[i] in "+-" and body[i - 1] not in "eEpP":
            split = i
            break
    real = _parse_go_float(body[:split]) if split else 0.0
    imag = _parse_go_float(body[split:])
    if imag is None or real is None:
        return None
    return complex(real, imag)


def _parse_go_float(text: str) -> Optional[float]:
    body = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xX].*[pP].*", body):
            value = float.fromhex(body)
        elif re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", body):
            value = float(body)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None  # strconv reports a range error


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   "\\": "\\"}


def _unquote(quoted: str) -> Optional[str]:
    """strconv.Unquote for "..." and `...` literals; None when the literal is invalid."""
    if quoted.startswith("`"):
        return quoted[1:-1].replace("\r", "")
    body = quoted[1:-1]
    out: List[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return None
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        decoded, i = _unescape(body, i, '"')
        if decoded is None:
            return None
        out.append(decoded)
    return "".join(out)


def _unquote_char(quoted: str) -> Tuple[str, str]:
    """The rune of a character constant, or an error message (strconv.UnquoteChar)."""
    body = quoted[1:-1]
    if body.startswith("\\"):
        decoded, end = _unescape(body, 0, "'")
        if decoded is None:
            return "", "invalid syntax"
        return decoded, "" if end == len(body) else f"malformed character constant: {quoted}"
    if not body:
        return "", "invalid syntax"
    return body[0], "" if len(body) == 1 else f"malformed character constant: {quoted}"


def _unescape(body: str, i: int, quote: str) -> Tuple[Optional[str], int]:
    """Decode the escape sequence at body[i] (a backslash), as strconv.UnquoteChar does."""
    if i + 1 >= len(body):
        return None, i
    code = body[i + 1]
    if code in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[code], i + 2
    if code == quote:
        return quote, i + 2
    widths = {"x": 2, "u": 4, "U": 8}
    if code in widths:
        digits = body[i + 2:i + 2 + widths[code]]
        if len(digits) != widths[code] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
            return None, i
        value = int(digits, 16)
        if code == "x":
            # A \x byte is a single byte in Go; as text only ASCII survives intact.
            return chr(value), i + 4
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            return None, i
        return chr(value), i + 2 + widths[code]
    if code in "01234567":
        digits = body[i + 1:i + 4]
        if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
            return None, i
        return chr(int(digits, 8)), i + 4
    return None, i


# --------------------------------------------------------------------------------------------
# Values. Plain JSON data stands for Go's map[string]interface{}, []interface{}, string,
# float64 (ints stay ints here), bool and a nil interface (None). The typed view of an image's
# inspect JSON (see the schema further down) uses the classes below, which carry their Go type
# so that nil slices print "[]", missing map entries have a zero value, and structs print and
# marshal in field order.

class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# Go's invalid reflect.Value: a missing map key or a nil interface once unwrapped.
_NO_VALUE = _Sentinel("<no value>")
# "No value passed down the pipeline" (Go's missingVal).
_MISSING = _Sentinel("<missing>")


class _Boxed:
    """An element of a JSON array or object that a range handed out: Go holds it in an
    interface{} until a pipeline unwraps it, which shows only in how errors name its type."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _boxes_entries(container: Any) -> bool:
    """Whether the entries of ``container`` are interface{} values in Go."""
    if isinstance(container, (dict, list)):
        return True
    return isinstance(container, (_Map, _Slice)) and container.type.elem is _T_ANY


class _JsonNumber(str):
    """encoding/json's Number: what the CLI's raw fallback decodes numbers into."""


class _Int64(int):
    """An int64 struct field (Size): prints like an int, but has its own Go type."""


class _ConstFloat(float):
    """A float constant written in the template, printed exactly as Go prints float64."""


class _GoType:
    def __init__(self, kind: str, name: str, elem: Optional["_GoType"] = None,
                 fields: Sequence["_GoField"] = (), key: str = "string") -> None:
        self.kind = kind  # string bool int float slice map struct ptr time duration empty any
        self.name = name
        self.elem = elem
        self.fields = list(fields)
        self.key = key  # of a map: a string key is assignable only to "string"

    def comparable(self) -> bool:
        """Whether == is defined on the type (eq refuses slices, maps and structs of them)."""
        if self.kind in ("slice", "map"):
            return False
        if self.kind == "struct":
            return all(field.type.comparable() for field in self.fields)
        return True

    def field(self, name: str) -> Optional[Tuple["_GoField", List["_GoField"]]]:
        """The struct field called ``name``, directly or promoted from an embedded struct,
        with the path of embedded fields leading to it."""
        for field in self.fields:
            if field.name == name:
                return field, []
        for field in self.fields:
            if field.embedded:
                found = field.type.field(name)
                if found is not None:
                    return found[0], [field] + found[1]
        return None


class _GoField:
    def __init__(self, name: str, type_: _GoType, json_name: Optional[str] = None,
                 omitempty: bool = False, embedded: bool = False) -> None:
        self.name = name
        self.type = type_
        self.json_name = json_name or name
        self.omitempty = omitempty
        self.embedded = embedded


class _Slice:
    def __init__(self, type_: _GoType, items: Optional[List[Any]]) -> None:
        self.type = type_
        self.items = items  # None: a nil slice


class _Map:
    def __init__(self, type_: _GoType, entries: Optional[Dict[str, Any]]) -> None:
        self.type = type_
        self.entries = entries  # None: a nil map

    def zero(self) -> Any:
        return _wrap(self.type.elem, None)  # type: ignore[arg-type]


class _Struct:
    def __init__(self, type_: _GoType, raw: Dict[str, Any]) -> None:
        self.type = type_
        self.raw = raw

    def get(self, field: _GoField) -> Any:
        if field.embedded:
            return _Struct(field.type, self.raw)  # embedded structs share the JSON object
        if field.json_name in self.raw:
            return _wrap(field.type, self.raw[field.json_name])
        lowered = field.json_name.lower()  # encoding/json matches keys case-insensitively
        for key, value in self.raw.items():
            if key.lower() == lowered:
                return _wrap(field.type, value)
        return _wrap(field.type, None)

    def values(self) -> List[Tuple[_GoField, Any]]:
        return [(field, self.get(field)) for field in self.type.fields]


class _Ptr:
    def __init__(self, type_: _GoType, target: Any, identity: int = 0) -> None:
        self.type = type_
        self.target = target  # None: a nil pointer
        self.identity = identity  # equal for pointers decoded from the same JSON value


class _EmptyStruct:
    """struct{}: the values of ExposedPorts and Volumes."""


_EMPTY = _EmptyStruct()


class _Duration(int):
    """time.Duration, in nanoseconds."""


class _Time:
    """time.Time as decoded from an RFC 3339 string (nanoseconds kept)."""

    _PATTERN = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)")

    def __init__(self, raw: Any) -> None:
        self.raw = raw if isinstance(raw, str) else ""
        match = self._PATTERN.fullmatch(self.raw)
        if match is None:
            self.parts = (1, 1, 1, 0, 0, 0)
            self.nanos = 0
            self.offset = 0
            self.valid = not self.raw
            return
        self.parts = tuple(int(match.group(i)) for i in range(1, 7))
        self.nanos = int((match.group(7) or "0")[:9].ljust(9, "0"))
        zone = match.group(8)
        self.offset = 0 if zone in ("Z", "z") else (
            (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6])))
        self.valid = True

    def _date_time(self, separator: str) -> str:
        year, month, day, hour, minute, second = self.parts
        text = f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
        if self.nanos:
            text += "." + f"{self.nanos:09d}".rstrip("0")
        return text

    def _offset(self, colon: bool) -> str:
        sign = "-" if self.offset < 0 else "+"
        hours, minutes = divmod(abs(self.offset), 60)
        return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"

    def __str__(self) -> str:  # time.Time.String
        if not self.valid:
            return self.raw
        zone = "UTC" if self.offset == 0 else self._offset(False)
        return f"{self._date_time(' ')} {self._offset(False)} {zone}"

    def json(self) -> str:  # time.Time.MarshalJSON (RFC 3339 with nanoseconds)
        if not self.valid:
            return _json_string(self.raw)
        return '"' + self._date_time("T") + ("Z" if self.offset == 0 else self._offset(True)) + '"'


def _wrap(type_: _GoType, raw: Any) -> Any:
    """The Go value of type ``type_`` that encoding/json decodes from ``raw``."""
    kind = type_.kind
    if kind == "any":
        return raw
    if kind == "string":
        return raw if isinstance(raw, str) else ""
    if kind == "bool":
        return raw if isinstance(raw, bool) else False
    if kind == "int":
        value = int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else 0
        return _Int64(value) if type_.name == "int64" else value
    if kind == "duration":
        return _Duration(int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else 0)
    if kind == "time":
        return _Time(raw)
    if kind == "empty":
        return _EMPTY
    if kind == "slice":
        if isinstance(raw, str) and type_.name == "strslice.StrSlice":
            raw = [raw]  # StrSlice also accepts a single string
        if not isinstance(raw, list):
            return _Slice(type_, None)
        return _Slice(type_, [_wrap(type_.elem, item) for item in raw])  # type: ignore[arg-type]
    if kind == "map":
        if not isinstance(raw, dict):
            return _Map(type_, None)
        return _Map(type_, {key: _wrap(type_.elem, value) for key, value in raw.items()})  # type: ignore[arg-type]
    if kind == "struct":
        return _Struct(type_, raw if isinstance(raw, dict) else {})
    if kind == "ptr":
        target = None if raw is None else _wrap(type_.elem, raw)  # type: ignore[arg-type]
        return _Ptr(type_, target, id(raw))
    raise AssertionError(f"unknown kind {kind}")


def _with_json_numbers(data: Any) -> Any:
    """``data`` as the CLI's raw fallback sees it: JSON decoded with UseNumber."""
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, (int, float)):
        return _JsonNumber(_json_float(float(data)) if isinstance(data, float) else str(data))
    if isinstance(data, dict):
        return {key: _with_json_numbers(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_with_json_numbers(item) for item in data]
    return data


# The docker CLI's image.InspectResponse (docker CLI 28: github.com/docker/docker/api/types/image
# and the OCI image spec types it embeds), in declaration order.

def _struct(name: str, *fields: _GoField) -> _GoType:
    return _GoType("struct", name, fields=fields)


def _f(name: str, type_: _GoType, omitempty: bool = False, json_name: Optional[str] = None) -> _GoField:
    return _GoField(name, type_, json_name=json_name, omitempty=omitempty)


_T_STRING = _GoType("string", "string")
_T_BOOL = _GoType("bool", "bool")
_T_INT = _GoType("int", "int")
_T_INT64 = _GoType("int", "int64")
_T_DURATION = _GoType("duration", "time.Duration")
_T_TIME = _GoType("time", "time.Time")
_T_ANY = _GoType("any", "interface {}")
_T_EMPTY = _GoType("empty", "struct {}")
_T_STRINGS = _GoType("slice", "[]string", _T_STRING)
_T_STRSLICE = _GoType("slice", "strslice.StrSlice", _T_STRING)
_T_LABELS = _GoType("map", "map[string]string", _T_STRING)
_T_SET = _GoType("map", "map[string]struct {}", _T_EMPTY)
_T_PORTSET = _GoType("map", "nat.PortSet", _T_EMPTY, key="nat.Port")

_T_HEALTHCHECK = _struct(
    "v1.HealthcheckConfig",
    _f("Test", _T_STRINGS, True), _f("Interval", _T_DURATION, True),
    _f("Timeout", _T_DURATION, True), _f("StartPeriod", _T_DURATION, True),
    _f("StartInterval", _T_DURATION, True), _f("Retries", _T_INT, True))
_T_HEALTHCHECK_PTR = _GoType("ptr", "*v1.HealthcheckConfig", _T_HEALTHCHECK)

_T_CONTAINER_CONFIG = _struct(
    "container.Config",
    _f("Hostname", _T_STRING), _f("Domainname", _T_STRING), _f("User", _T_STRING),
    _f("AttachStdin", _T_BOOL), _f("AttachStdout", _T_BOOL), _f("AttachStderr", _T_BOOL),
    _f("ExposedPorts", _T_PORTSET, True), _f("Tty", _T_BOOL), _f("OpenStdin", _T_BOOL),
    _f("StdinOnce", _T_BOOL), _f("Env", _T_STRINGS), _f("Cmd", _T_STRSLICE),
    _f("Healthcheck", _T_HEALTHCHECK_PTR, True), _f("ArgsEscaped", _T_BOOL, True),
    _f("Image", _T_STRING), _f("Volumes", _T_SET), _f("WorkingDir", _T_STRING),
    _f("Entrypoint", _T_STRSLICE), _f("NetworkDisabled", _T_BOOL, True),
    _f("MacAddress", _T_STRING, True), _f("OnBuild", _T_STRINGS), _f("Labels", _T_LABELS),
    _f("StopSignal", _T_STRING, True), _f("StopTimeout", _GoType("ptr", "*int", _T_INT), True),
    _f("Shell", _T_STRSLICE, True))

_T_OCI_IMAGE_CONFIG = _struct(
    "v1.ImageConfig",
    _f("User", _T_STRING, True), _f("ExposedPorts", _T_SET, True), _f("Env", _T_STRINGS, True),
    _f("Entrypoint", _T_STRINGS, True), _f("Cmd", _T_STRINGS, True),
    _f("Volumes", _T_SET, True), _f("WorkingDir", _T_STRING, True),
    _f("Labels", _T_LABELS, True), _f("StopSignal", _T_STRING, True),
    _f("ArgsEscaped", _T_BOOL, True))
_T_DOCKER_CONFIG_EXT = _struct(
    "v1.DockerOCIImageConfigExt",
    _f("Healthcheck", _T_HEALTHCHECK_PTR, True), _f("OnBuild", _T_STRINGS, True),
    _f("Shell", _T_STRINGS, True))
_T_DOCKER_CONFIG = _GoType("struct", "v1.DockerOCIImageConfig", fields=[
    _GoField("ImageConfig", _T_OCI_IMAGE_CONFIG, embedded=True),
    _GoField("DockerOCIImageConfigExt", _T_DOCKER_CONFIG_EXT, embedded=True)])

_T_PLATFORM = _struct(
    "v1.Platform",
    _f("Architecture", _T_STRING, json_name="architecture"), _f("OS", _T_STRING, json_name="os"),
    _f("OSVersion", _T_STRING, True, "os.version"), _f("OSFeatures", _T_STRINGS, True, "os.features"),
    _f("Variant", _T_STRING, True, "variant"))
_T_DESCRIPTOR = _struct(
    "v1.Descriptor",
    _f("MediaType", _T_STRING, json_name="mediaType"), _f("Digest", _T_STRING, json_name="digest"),
    _f("Size", _T_INT64, json_name="size"), _f("URLs", _T_STRINGS, True, "urls"),
    _f("Annotations", _T_LABELS, True, "annotations"), _f("Data", _T_ANY, True, "data"),
    _f("Platform", _GoType("ptr", "*v1.Platform", _T_PLATFORM), True, "platform"),
    _f("ArtifactType", _T_STRING, True, "artifactType"))

_IMAGE_INSPECT = _struct(
    "image.InspectResponse",
    _f("ID", _T_STRING, json_name="Id"), _f("RepoTags", _T_STRINGS), _f("RepoDigests", _T_STRINGS),
    _f("Parent", _T_STRING), _f("Comment", _T_STRING), _f("Created", _T_STRING, True),
    _f("Container", _T_STRING, True),
    _f("ContainerConfig", _GoType("ptr", "*container.Config", _T_CONTAINER_CONFIG), True),
    _f("DockerVersion", _T_STRING), _f("Author", _T_STRING),
    _f("Config", _GoType("ptr", "*v1.DockerOCIImageConfig", _T_DOCKER_CONFIG)),
    _f("Architecture", _T_STRING), _f("Variant", _T_STRING, True), _f("Os", _T_STRING),
    _f("OsVersion", _T_STRING, True), _f("Size", _T_INT64), _f("VirtualSize", _T_INT64, True),
    _f("GraphDriver", _struct("storage.DriverData", _f("Data", _T_LABELS), _f("Name", _T_STRING))),
    _f("RootFS", _struct("image.RootFS", _f("Type", _T_STRING, True), _f("Layers", _T_STRINGS, True))),
    _f("Metadata", _struct("image.Metadata", _f("LastTagTime", _T_TIME, True))),
    _f("Descriptor", _GoType("ptr", "*v1.Descriptor", _T_DESCRIPTOR), True),
    # ManifestSummary is left untyped: engines before API 1.48 never send it.
    _f("Manifests", _GoType("slice", "[]image.ManifestSummary", _T_ANY), True))


def _type_name(value: Any) -> str:
    """reflect.Type.String() of a value, for messages and %T."""
    if value is None or value is _NO_VALUE:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _Int64):
        return "int64"
    if isinstance(value, _Duration):
        return "time.Duration"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, _JsonNumber):
        return "json.Number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, (_Slice, _Map, _Struct, _Ptr)):
        return value.type.name
    if isinstance(value, _Time):
        return "time.Time"
    if isinstance(value, _EmptyStruct):
        return "struct {}"
    return type(value).__name__


def _indirect(value: Any) -> Tuple[Any, bool]:
    """Go's indirect: through pointers; (value, True) for a nil pointer or nil interface."""
    while True:
        if value is None:
            return None, True
        if isinstance(value, _Ptr):
            if value.target is None:
                return value, True
            value = value.target
            continue
        return value, False


def _indirect_interface(value: Any) -> Any:
    return _NO_VALUE if value is None else value


def _is_true(value: Any) -> bool:
    if value is _NO_VALUE or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, complex)):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    if isinstance(value, _Slice):
        return bool(value.items)
    if isinstance(value, _Map):
        return bool(value.entries)
    if isinstance(value, _Ptr):
        return value.target is not None
    return True  # structs, times


def _length(value: Any) -> Optional[int]:
    """len() of strings (in bytes, as Go counts), slices and maps; None for other kinds."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (list, dict)):
        return len(value)
    if isinstance(value, _Slice):
        return len(value.items or [])
    if isinstance(value, _Map):
        return len(value.entries or {})
    return None


def _sequence(value: Any) -> Optional[List[Any]]:
    if isinstance(value, list):
        return value
    if isinstance(value, _Slice):
        return value.items or []
    return None


def _mapping(value: Any) -> Optional[Dict[str, Any]]:
    if isinstance(value, dict):
        return value
    if isinstance(value, _Map):
        return value.entries or {}
    return None


# --------------------------------------------------------------------------------------------
# Execution: a port of text/template/exec.go and funcs.go over the values above.

class _Options:
    def __init__(self, missing_key_error: bool = False, strict_lists: bool = False,
                 sort_json_keys: bool = False) -> None:
        self.missing_key_error = missing_key_error
        # Go refuses a []interface{} where a []string is wanted ({{join .List ","}} over raw
        # JSON); plain render() accepts a list of strings there, which is what users mean.
        self.strict_lists = strict_lists
        # Go marshals a map[string]interface{} with sorted keys; plain render() keeps the
        # order of the JSON object as the engine wrote it (its struct order).
        self.sort_json_keys = sort_json_keys


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _CallError(Exception):
    """An error returned by a template function; reported as "error calling NAME: ..."."""


# Parameter kinds of template functions.
_P_ANY = "interface {}"
_P_VALUE = "reflect.Value"
_P_STRING = "string"
_P_INT = "int"
_P_STRINGS = "[]string"


class _Func:
    def __init__(self, params: Sequence[str], variadic: Optional[str],
                 impl: Callable[..., Any]) -> None:
        self.params = list(params)
        self.variadic = variadic
        self.impl = impl


# Go allows 100000 nested {{template}} calls; Python's stack allows far fewer.
_MAX_TEMPLATE_DEPTH = 100


class _State:
    def __init__(self, template: Template, data: Any, options: _Options) -> None:
        self.text = template.text
        self.trees = template._trees
        self.options = options
        self.vars: List[List[Any]] = [["$", data]]
        self.node: Optional[_Node] = None
        self.out: List[str] = []
        self.data = data
        self.name = ""  # of the template being executed, for messages
        self.depth = 0

    def run(self, root: _ListNode) -> str:
        try:
            self._walk(self.data, root)
        except RecursionError:
            self._errorf("template nested too deeply")
        return "".join(self.out)

    # -- errors and variables

    def _errorf(self, reason: str) -> None:
        if self.node is None:
            raise TemplateError(f"template: : {reason}", line=1, column=0, reason=reason)
        pos = self.node.pos
        line = 1 + self.text.count("\n", 0, pos)
        column = _byte_column(self.text, pos)
        raise TemplateError(
            f"template: :{line}:{column}: executing {_go_quote(self.name)} at <{self.node}>: {reason}",
            line=line, column=column, reason=reason)

    def _at(self, node: _Node) -> None:
        self.node = node

    def _mark(self) -> int:
        return len(self.vars)

    def _pop(self, mark: int) -> None:
        del self.vars[mark:]

    def _set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self._errorf(f"undefined variable: {name}")

    def _set_top_var(self, n: int, value: Any) -> None:
        self.vars[len(self.vars) - n][1] = value

    def _var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self._errorf(f"undefined variable: {name}")

    # -- walking the tree

    def _walk(self, dot: Any, node: _Node) -> None:
        self._at(node)
        if isinstance(node, _ActionNode):
            value = self._eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self._print_value(node, value)
        elif isinstance(node, _TextNode):
            self.out.append(node.text)
        elif isinstance(node, _ListNode):
            for child in node.nodes:
                self._walk(dot, child)
        elif isinstance(node, _RangeNode):
            self._walk_range(dot, node)
        elif isinstance(node, (_IfNode, _WithNode)):
            self._walk_if_or_with(dot, node)
        elif isinstance(node, _TemplateNode):
            self._walk_template(dot, node)
        elif isinstance(node, _BreakNode):
            raise _Break()
        elif isinstance(node, _ContinueNode):
            raise _Continue()
        else:
            self._errorf(f"unknown node: {node}")

    def _walk_if_or_with(self, dot: Any, node: _BranchNode) -> None:
        mark = self._mark()
        try:
            value = self._eval_pipeline(dot, node.pipe)
            if _is_true(_indirect_interface(value)):
                self._walk(value if isinstance(node, _WithNode) else dot, node.body)
            elif node.else_body is not None:
                self._walk(dot, node.else_body)
        finally:
            self._pop(mark)

    def _walk_template(self, dot: Any, node: _TemplateNode) -> None:
        self._at(node)
        tree = self.trees.get(node.name)
        if tree is None:
            self._errorf(f"template {_go_quote(node.name)} not defined")
        if self.depth == _MAX_TEMPLATE_DEPTH:
            self._errorf(f"exceeded maximum template depth ({_MAX_TEMPLATE_DEPTH})")
        dot = self._eval_pipeline(dot, node.pipe)  # variables it declares stay with the caller
        saved = self.vars, self.name
        # No dynamic scoping: the called template sees only $, which is its dot.
        self.vars, self.name = [["$", dot]], node.name
        self.depth += 1
        try:
            self._walk(dot, tree)  # type: ignore[arg-type]
        finally:
            self.vars, self.name = saved
            self.depth -= 1

    def _walk_range(self, dot: Any, node: _RangeNode) -> None:
        self._at(node)
        outer = self._mark()
        try:
            value, _ = _indirect(self._eval_pipeline(dot, node.pipe))
            mark = self._mark()
            decl = node.pipe.decl

            def one_iteration(index: Any, elem: Any) -> None:
                if decl:
                    if node.pipe.is_assign:
                        self._set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                    else:
                        self._set_top_var(1, elem)
                if len(decl) > 1:
                    if node.pipe.is_assign:
                        self._set_var(decl[1].ident[0], elem)
                    else:
                        self._set_top_var(2, index)
                try:
                    self._walk(elem, node.body)
                except _Continue:
                    pass
                finally:
                    self._pop(mark)

            items = _sequence(value)
            entries = _mapping(value)
            box = _Boxed if _boxes_entries(value) else (lambda elem: elem)
            if items is not None:
                if items:
                    for index, elem in enumerate(items):
                        one_iteration(index, box(elem))
                    return
            elif entries is not None:
                if entries:
                    for key in sorted(entries):
                        one_iteration(key, box(entries[key]))
                    return
            elif isinstance(value, int) and not isinstance(value, bool):
                if len(decl) > 1:
                    self._errorf(f"can't use {_sprint([value])} to iterate over more than one variable")
                if value > 0:
                    for count in range(value):
                        one_iteration(_NO_VALUE, type(value)(count))
                    return
            elif value is not _NO_VALUE:
                self._errorf(f"range can't iterate over {_sprint([value])}")
            if node.else_body is not None:
                self._walk(dot, node.else_body)
        except _Break:
            pass
        finally:
            self._pop(outer)

    # -- evaluation

    def _eval_pipeline(self, dot: Any, pipe: Optional[_PipeNode]) -> Any:
        if pipe is None:
            return _NO_VALUE
        self._at(pipe)
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self._eval_command(dot, cmd, value)
            if isinstance(value, _Boxed):
                value = value.value
            if value is None:  # a nil interface{} unwraps to "no value"
                value = _NO_VALUE
        for variable in pipe.decl:
            if pipe.is_assign:
                self._set_var(variable.ident[0], value)
            else:
                self.vars.append([variable.ident[0], value])
        return value

    def _not_a_function(self, args: List[_Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            self._errorf(f"can't give argument to non-function {args[0]}")

    def _eval_command(self, dot: Any, cmd: _CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _FieldNode):
            return self._eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, _ChainNode):
            return self._eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, _IdentifierNode):
            return self._eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _PipeNode):
            self._not_a_function(cmd.args, final)
            return self._eval_pipeline(dot, first)
        if isinstance(first, _VariableNode):
            return self._eval_variable_node(dot, first, cmd.args, final)
        self._at(first)
        self._not_a_function(cmd.args, final)
        if isinstance(first, _BoolNode):
            return first.value
        if isinstance(first, _DotNode):
            return dot
        if isinstance(first, _NilNode):
            self._errorf("nil is not a command")
        if isinstance(first, _NumberNode):
            return self._ideal_constant(first)
        if isinstance(first, _StringNode):
            return first.text
        self._errorf(f"can't evaluate command {_go_quote(str(first))}")

    def _ideal_constant(self, constant: _NumberNode) -> Any:
        self._at(constant)
        text = constant.text
        if constant.is_complex:
            return constant.complex_value
        is_hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
        if (constant.is_float and not is_hex_int and not text.startswith("'")
                and any(c in text for c in ".eEpP")):
            return _ConstFloat(constant.float_value)
        if constant.is_int:
            return constant.int_value
        if constant.is_uint:
            self._errorf(f"{text} overflows int")
        return _NO_VALUE

    def _eval_field_node(self, dot: Any, field: _FieldNode, args: Optional[List[_Node]], final: Any) -> Any:
        self._at(field)
        return self._eval_field_chain(dot, dot, field, field.ident, args, final)

    def _eval_chain_node(self, dot: Any, chain: _ChainNode, args: Optional[List[_Node]], final: Any) -> Any:
        self._at(chain)
        if isinstance(chain.node, _NilNode):
            self._errorf(f"indirection through explicit nil in {chain}")
        receiver = self._eval_arg(dot, None, chain.node)
        return self._eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def _eval_variable_node(self, dot: Any, variable: _VariableNode, args: Optional[List[_Node]],
                            final: Any) -> Any:
        self._at(variable)
        value = self._var_value(variable.ident[0])
        if len(variable.ident) == 1:
            self._not_a_function(args or [variable], final)
            return value
        return self._eval_field_chain(dot, value, variable, variable.ident[1:], args, final)

    def _eval_field_chain(self, dot: Any, receiver: Any, node: _Node, ident: List[str],
                          args: Optional[List[_Node]], final: Any) -> Any:
        boxed = isinstance(receiver, _Boxed)
        if boxed:
            receiver = receiver.value
        for name in ident[:-1]:
            holder = receiver
            receiver = self._eval_field(name, None, _MISSING, receiver, boxed)
            # An entry of a JSON object is an interface{} until the pipeline unwraps it.
            boxed = _boxes_entries(holder)
        return self._eval_field(ident[-1], args, final, receiver, boxed)

    def _eval_field(self, name: str, args: Optional[List[_Node]], final: Any, receiver: Any,
                    boxed: bool = False) -> Any:
        if receiver is _NO_VALUE:
            if self.options.missing_key_error:
                self._errorf(f"nil data; no entry for key {_go_quote(name)}")
            return _NO_VALUE
        type_name = "interface {}" if receiver is None or boxed else _type_name(receiver)
        target, is_nil = _indirect(receiver)
        if target is None:
            self._errorf(f"nil pointer evaluating {type_name}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(target, _Struct):
            found = target.type.field(name)
            if found is not None:
                if has_args:
                    self._errorf(f"{name} has arguments but cannot be invoked as function")
                field, path = found
                holder = target
                for embedded in path:
                    holder = holder.get(embedded)
                return holder.get(field)
        elif isinstance(target, dict) or (isinstance(target, _Map) and target.type.key == "string"):
            if has_args:
                self._errorf(f"{name} is not a method but has arguments")
            entries = _mapping(target)
            if entries is not None and name in entries:
                return entries[name]
            if self.options.missing_key_error:
                self._errorf(f"map has no entry for key {_go_quote(name)}")
            return _NO_VALUE
        elif isinstance(target, _Ptr) and is_nil:
            elem = target.type.elem
            if elem is None or elem.kind != "struct" or elem.field(name) is not None:
                self._errorf(f"nil pointer evaluating {type_name}.{name}")
        self._errorf(f"can't evaluate field {name} in type {type_name}")

    def _eval_function(self, dot: Any, node: _IdentifierNode, cmd: _Node,
                       args: Optional[List[_Node]], final: Any) -> Any:
        self._at(node)
        return self._eval_call(dot, _FUNCS[node.ident], cmd, node.ident, args, final)

    def _eval_call(self, dot: Any, func: _Func, node: _Node, name: str,
                   args: Optional[List[_Node]], final: Any) -> Any:
        arg_nodes = list(args[1:]) if args is not None else []
        num_in = len(arg_nodes) + (0 if final is _MISSING else 1)
        if func.variadic is not None:
            num_fixed = len(func.params)
            if num_in < num_fixed:
                self._errorf(f"wrong number of args for {name}: want at least {num_fixed} got {len(arg_nodes)}")
        else:
            num_fixed = len(arg_nodes)
            if num_in != len(func.params):
                self._errorf(f"wrong number of args for {name}: want {len(func.params)} got {num_in}")

        if name in ("and", "or"):  # they short-circuit, so their arguments are evaluated here
            value: Any = _NO_VALUE
            for arg in arg_nodes:
                value = self._eval_arg(dot, _P_VALUE, arg)
                if _is_true(_indirect_interface(value)) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = self._validate_type(final, _P_VALUE)
            return value

        argv: List[Any] = []
        for i in range(min(num_fixed, len(arg_nodes))):
            argv.append(self._eval_arg(dot, func.params[i], arg_nodes[i]))
        if func.variadic is not None:
            for arg in arg_nodes[len(argv):]:
                argv.append(self._eval_arg(dot, func.variadic, arg))
        if final is not _MISSING:
            if func.variadic is None:
                param = func.params[-1]
            elif num_in - 1 < num_fixed:
                param = func.params[num_in - 1]
            else:
                param = func.variadic
            argv.append(self._validate_type(final, param))
        try:
            if name == "call":  # the data holds no functions: this always reports an error
                return _call(str(arg_nodes[0]) if arg_nodes else str(final), *argv)
            return func.impl(self, *argv)
        except _CallError as exc:
            self._at(node)
            self._errorf(f"error calling {name}: {exc}")

    def _eval_arg(self, dot: Any, param: Optional[str], node: _Node) -> Any:
        self._at(node)
        if isinstance(node, _DotNode):
            return self._validate_type(dot, param)
        if isinstance(node, _NilNode):
            if param in (_P_ANY, _P_VALUE, _P_STRINGS):
                return _zero(param)
            self._errorf(f"cannot assign nil to {param}")
        if isinstance(node, _FieldNode):
            return self._validate_type(self._eval_field_node(dot, node, [node], _MISSING), param)
        if isinstance(node, _VariableNode):
            return self._validate_type(self._eval_variable_node(dot, node, None, _MISSING), param)
        if isinstance(node, _PipeNode):
            return self._validate_type(self._eval_pipeline(dot, node), param)
        if isinstance(node, _IdentifierNode):
            return self._validate_type(self._eval_function(dot, node, node, None, _MISSING), param)
        if isinstance(node, _ChainNode):
            return self._validate_type(self._eval_chain_node(dot, node, None, _MISSING), param)
        if param in (_P_ANY, _P_VALUE, None):
            if isinstance(node, _BoolNode):
                return node.value
            if isinstance(node, _NumberNode):
                return self._ideal_constant(node)
            if isinstance(node, _StringNode):
                return node.text
        elif param == _P_STRING:
            if isinstance(node, _StringNode):
                return node.text
            self._errorf(f"expected string; found {node}")
        elif param == _P_INT:
            if isinstance(node, _NumberNode) and node.is_int:
                return node.int_value
            self._errorf(f"expected integer; found {node}")
        self._errorf(f"can't handle {node} for arg of type {param}")

    def _validate_type(self, value: Any, param: Optional[str]) -> Any:
        if isinstance(value, _Boxed):
            value = value.value
        if value is _NO_VALUE:
            if param is None:
                return _NO_VALUE
            if param in (_P_ANY, _P_VALUE, _P_STRINGS):
                return _zero(param)
            self._errorf(f"invalid value; expected {param}")
        if param in (None, _P_ANY, _P_VALUE):
            return value
        if param == _P_STRING and isinstance(value, str) and not isinstance(value, _JsonNumber):
            return value
        if param == _P_INT and isinstance(value, int) and not isinstance(value, (bool, _Int64, _Duration)):
            return value
        if param == _P_STRINGS:
            if isinstance(value, _Slice) and value.type.elem is _T_STRING:
                return value
            if (isinstance(value, list) and not self.options.strict_lists
                    and all(isinstance(item, str) for item in value)):
                return _Slice(_T_STRINGS, list(value))
        target, _ = _indirect(value)
        if isinstance(value, _Ptr) and target is not value and _type_name(target) == param:
            return target
        got = "interface {}" if value is None else _type_name(value)
        self._errorf(f"wrong type for value; expected {param}; got {got}")

    def _print_value(self, node: _Node, value: Any) -> None:
        self._at(node)
        if isinstance(value, _Ptr):
            value, _ = _indirect(value)  # a nil pointer prints as <nil>
        if value is _NO_VALUE:
            self.out.append("<no value>")
        else:
            self.out.append(_sprint([value]))


def _zero(param: str) -> Any:
    if param == _P_ANY:
        return None
    if param == _P_STRINGS:
        return _Slice(_T_STRINGS, None)
    return _NO_VALUE


# --------------------------------------------------------------------------------------------
# Template functions.

def _f_in_eval_call(state: _State, *args: Any) -> Any:
    """and, or (which short-circuit) and call are carried out by _State._eval_call."""
    raise AssertionError("evaluated in _eval_call")


def _f_not(state: _State, value: Any) -> bool:
    return not _is_true(_indirect_interface(value))


def _f_len(state: _State, item: Any) -> int:
    if item is _NO_VALUE:
        raise _CallError("reflect: call of reflect.Value.Type on zero Value")
    item, is_nil = _indirect(item)
    if is_nil:
        raise _CallError("len of nil pointer")
    length = _length(item)
    if length is None:
        raise _CallError(f"len of type {_type_name(item)}")
    return length


def _index_arg(index: Any, cap: int) -> int:
    if index is _NO_VALUE:
        raise _CallError("cannot index slice/array with nil")
    if not isinstance(index, int) or isinstance(index, bool):
        raise _CallError(f"cannot index slice/array with type {_type_name(index)}")
    if index < 0 or index > cap:
        raise _CallError(f"index out of range: {index}")
    return int(index)


def _f_index(state: _State, item: Any, *indexes: Any) -> Any:
    item = _indirect_interface(item)
    if item is _NO_VALUE:
        raise _CallError("index of untyped nil")
    for index in indexes:
        index = _indirect_interface(index)
        item, is_nil = _indirect(item)
        if is_nil:
            raise _CallError("index of nil pointer")
        items = _sequence(item)
        if items is not None:
            x = _index_arg(index, len(items))
            if x == len(items):
                raise _CallError("reflect: slice index out of range")
            item = items[x]
        elif isinstance(item, str):
            data = item.encode("utf-8")
            x = _index_arg(index, len(data))
            if x == len(data):
                raise _CallError("reflect: string index out of range")
            item = data[x]
        elif isinstance(item, (dict, _Map)):
            key_type = item.type.key if isinstance(item, _Map) else "string"
            if index is _NO_VALUE:
                raise _CallError(f"value is nil; should be of type {key_type}")
            if _type_name(index) != key_type:
                raise _CallError(f"value has type {_type_name(index)}; should be {key_type}")
            entries = _mapping(item) or {}
            if index in entries:
                item = entries[index]
            else:
                item = item.zero() if isinstance(item, _Map) else None
        else:
            raise _CallError(f"can't index item of type {_type_name(item)}")
    return item


def _f_slice(state: _State, item: Any, *indexes: Any) -> Any:
    item = _indirect_interface(item)
    if item is _NO_VALUE:
        raise _CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _CallError("cannot 3-index slice a string")
        data = item.encode("utf-8")
        size = len(data)
    elif _sequence(item) is not None:
        data = _sequence(item)
        size = len(data)  # type: ignore[arg-type]
    else:
        raise _CallError(f"can't slice item of type {_type_name(item)}")
    bounds = [0, size, size]
    for i, index in enumerate(indexes):
        bounds[i] = _index_arg(_indirect_interface(index), size)
    if bounds[0] > bounds[1]:
        raise _CallError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > bounds[2]:
        raise _CallError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    part = data[bounds[0]:bounds[1]]  # type: ignore[index]
    if isinstance(item, str):
        return part.decode("utf-8", errors="replace")  # type: ignore[union-attr]
    if isinstance(item, _Slice):
        return _Slice(item.type, list(part))  # type: ignore[arg-type]
    return list(part)  # type: ignore[arg-type]


def _call(callee: str, fn: Any = _NO_VALUE, *args: Any) -> Any:
    fn = _indirect_interface(fn)
    if fn is _NO_VALUE:
        raise _CallError("call of nil")
    raise _CallError(f"non-function {callee} of type {_type_name(fn)}")


_BOOL_KIND, _INT_KIND, _FLOAT_KIND, _COMPLEX_KIND = "bool", "int", "float", "complex"
_STRING_KIND, _INVALID_KIND = "string", ""


def _basic_kind(value: Any) -> str:
    if isinstance(value, bool):
        return _BOOL_KIND
    if isinstance(value, int):
        return _INT_KIND
    if isinstance(value, float):
        return _FLOAT_KIND
    if isinstance(value, complex):
        return _COMPLEX_KIND
    if isinstance(value, str):
        return _STRING_KIND
    return _INVALID_KIND


def _is_nil_value(value: Any) -> bool:
    if value is _NO_VALUE or value is None:
        return True
    if isinstance(value, _Ptr):
        return value.target is None
    if isinstance(value, _Slice):
        return value.items is None
    if isinstance(value, _Map):
        return value.entries is None
    return False


def _comparable(value: Any) -> bool:
    if isinstance(value, (list, dict, _Slice, _Map)):
        return False
    if isinstance(value, _Struct):
        return value.type.comparable()
    return True


def _go_kind(value: Any) -> str:
    """reflect.Kind, only as far as eq needs to tell kinds apart."""
    if value is _NO_VALUE:
        return "invalid"
    if isinstance(value, (list, _Slice)):
        return "slice"
    if isinstance(value, (dict, _Map)):
        return "map"
    if isinstance(value, _Ptr):
        return "ptr"
    return "struct"


def _f_eq(state: _State, arg1: Any, *others: Any) -> bool:
    arg1 = _indirect_interface(arg1)
    if not others:
        raise _CallError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in others:
        arg = _indirect_interface(arg)
        k2 = _basic_kind(arg)
        if k1 != k2:
            if arg1 is not _NO_VALUE and arg is not _NO_VALUE:
                raise _CallError("incompatible types for comparison")
            truth = False
        elif k1 != _INVALID_KIND:
            truth = arg1 == arg
        else:
            kind1, kind2 = _go_kind(arg1), _go_kind(arg)
            if kind1 != kind2 and "invalid" not in (kind1, kind2):
                raise _CallError(f"non-comparable types {_sprint([arg1])}: {_type_name(arg1)}, "
                                 f"{_type_name(arg)}: {_sprint([arg])}")
            if _is_nil_value(arg1) or _is_nil_value(arg):
                truth = _is_nil_value(arg) == _is_nil_value(arg1)
            elif not _comparable(arg):
                raise _CallError(f"non-comparable type {_format_arg(arg, 's')}: {_type_name(arg)}")
            elif isinstance(arg1, _Ptr) and isinstance(arg, _Ptr):
                truth = arg1.identity == arg.identity
            else:
                truth = _type_name(arg1) == _type_name(arg) and _json_marshal(arg1, True) == _json_marshal(arg, True)
        if truth:
            return True
    return False


def _f_ne(state: _State, arg1: Any, arg2: Any) -> bool:
    return not _f_eq(state, arg1, arg2)


def _f_lt(state: _State, arg1: Any, arg2: Any) -> bool:
    arg1 = _indirect_interface(arg1)
    k1 = _basic_kind(arg1)
    if k1 == _INVALID_KIND:
        raise _CallError("invalid type for comparison")
    arg2 = _indirect_interface(arg2)
    k2 = _basic_kind(arg2)
    if k2 == _INVALID_KIND:
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError("incompatible types for comparison")
    if k1 in (_BOOL_KIND, _COMPLEX_KIND):
        raise _CallError("invalid type for comparison")
    if k1 == _STRING_KIND:
        return arg1.encode("utf-8") < arg2.encode("utf-8")
    return arg1 < arg2


def _f_le(state: _State, arg1: Any, arg2: Any) -> bool:
    return _f_lt(state, arg1, arg2) or _f_eq(state, arg1, arg2)


def _f_gt(state: _State, arg1: Any, arg2: Any) -> bool:
    return not _f_le(state, arg1, arg2)


def _f_ge(state: _State, arg1: Any, arg2: Any) -> bool:
    return not _f_lt(state, arg1, arg2)


def _eval_args(args: Sequence[Any]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    # Like printValue: pointers are followed and a nil argument reads "<no value>".
    printable = ["<no value>" if arg is None else _indirect(arg)[0] if isinstance(arg, _Ptr) else arg
                 for arg in args]
    return _sprint(printable)


def _f_html(state: _State, *args: Any) -> str:
    text = _eval_args(args)
    table = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(ch, ch) for ch in text)


def _f_js(state: _State, *args: Any) -> str:
    out = []
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
             "=": "\\u003D"}
    for ch in _eval_args(args):
        if ch in table:
            out.append(table[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) >= 0x80 and not _is_print(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _f_urlquery(state: _State, *args: Any) -> str:
    out = []
    for byte in _eval_args(args).encode("utf-8"):
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch in "-_.~"):
            out.append(ch)
        elif ch == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def _f_print(state: _State, *args: Any) -> str:
    return _sprint(args)


def _f_println(state: _State, *args: Any) -> str:
    return " ".join(_format_arg(arg, "v") for arg in args) + "\n"


def _f_printf(state: _State, template: str, *args: Any) -> str:
    return _sprintf(template, args)


def _f_json(state: _State, value: Any) -> str:
    try:
        return _json_marshal(value, state.options.sort_json_keys)
    except ValueError as exc:
        raise _CallError(str(exc)) from None


def _f_split(state: _State, text: str, separator: str) -> _Slice:
    if separator == "":
        return _Slice(_T_STRINGS, list(text))
    return _Slice(_T_STRINGS, text.split(separator))


def _f_join(state: _State, elems: _Slice, separator: str) -> str:
    return separator.join(elems.items or [])


def _map_runes(text: str, convert: Callable[[str], str]) -> str:
    out = []
    for ch in text:
        mapped = convert(ch)
        out.append(mapped if len(mapped) == 1 else ch)  # Go maps rune by rune
    return "".join(out)


def _f_lower(state: _State, text: str) -> str:
    return _map_runes(text, str.lower)


def _f_upper(state: _State, text: str) -> str:
    return _map_runes(text, str.upper)


def _is_separator(ch: str) -> bool:
    if ord(ch) <= 0x7F:
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or unicodedata.category(ch) == "Nd":
        return False
    return ch.isspace()


def _f_title(state: _State, text: str) -> str:
    out = []
    previous = " "
    for ch in text:
        out.append(_map_runes(ch, str.title) if _is_separator(previous) else ch)
        previous = ch
    return "".join(out)


def _f_pad(state: _State, text: str, prefix: int, suffix: int) -> str:
    if text == "":
        return text
    if prefix < 0 or suffix < 0:
        raise _CallError("strings: negative Repeat count")
    return " " * prefix + text + " " * suffix


def _f_truncate(state: _State, text: str, length: int) -> str:
    data = text.encode("utf-8")
    if len(data) < length:
        return text
    if length < 0:
        raise _CallError(f"runtime error: slice bounds out of range [:{length}]")
    return data[:length].decode("utf-8", errors="replace")


_FUNCS: Dict[str, _Func] = {
    "and": _Func([_P_VALUE], _P_VALUE, _f_in_eval_call),
    "or": _Func([_P_VALUE], _P_VALUE, _f_in_eval_call),
    "not": _Func([_P_VALUE], None, _f_not),
    "call": _Func([_P_VALUE], _P_VALUE, _f_in_eval_call),
    "html": _Func([], _P_ANY, _f_html),
    "js": _Func([], _P_ANY, _f_js),
    "urlquery": _Func([], _P_ANY, _f_urlquery),
    "index": _Func([_P_VALUE], _P_VALUE, _f_index),
    "slice": _Func([_P_VALUE], _P_VALUE, _f_slice),
    "len": _Func([_P_VALUE], None, _f_len),
    "print": _Func([], _P_ANY, _f_print),
    "printf": _Func([_P_STRING], _P_ANY, _f_printf),
    "println": _Func([], _P_ANY, _f_println),
    "eq": _Func([_P_VALUE], _P_VALUE, _f_eq),
    "ne": _Func([_P_VALUE, _P_VALUE], None, _f_ne),
    "lt": _Func([_P_VALUE, _P_VALUE], None, _f_lt),
    "le": _Func([_P_VALUE, _P_VALUE], None, _f_le),
    "gt": _Func([_P_VALUE, _P_VALUE], None, _f_gt),
    "ge": _Func([_P_VALUE, _P_VALUE], None, _f_ge),
    # docker/cli templates/templates.go
    "json": _Func([_P_ANY], None, _f_json),
    "split": _Func([_P_STRING, _P_STRING], None, _f_split),
    "join": _Func([_P_STRINGS, _P_STRING], None, _f_join),
    "title": _Func([_P_STRING], None, _f_title),
    "lower": _Func([_P_STRING], None, _f_lower),
    "upper": _Func([_P_STRING], None, _f_upper),
    "pad": _Func([_P_STRING, _P_INT, _P_INT], None, _f_pad),
    "truncate": _Func([_P_STRING, _P_INT], None, _f_truncate),
}


# --------------------------------------------------------------------------------------------
# Go's fmt, for the values above.

def _is_print(ch: str) -> bool:
    """strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _fmt_rune(ch: str) -> str:
    """fmt's %#U."""
    if ch == _EOF:
        return "U+FFFFFFFFFFFFFFFF"
    code = f"U+{ord(ch):04X}"
    return f"{code} '{ch}'" if _is_print(ch) else code


def _go_quote(text: str, quote: str = '"') -> str:
    """strconv.Quote (or QuoteRune with quote="'")."""
    out = [quote]
    for ch in text:
        code = ord(ch)
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
        elif _is_print(ch):
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(quote)
    return "".join(out)


def _byte_column(text: str, pos: int) -> int:
    line_start = text.rfind("\n", 0, pos) + 1
    return len(text[line_start:pos].encode("utf-8"))


def _float_digits(value: float) -> Tuple[str, int]:
    """The shortest decimal digits that read back as ``value`` (> 0), and the position of the
    decimal point relative to them (Go's digs.d and digs.dp)."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    return text, len(text) + int(exponent)


def _float_g_shortest(value: float, exp_threshold: int = 6, upper: bool = False) -> str:
    """strconv.FormatFloat(value, 'g', -1, 64), which fmt's %v uses."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits, point = _float_digits(abs(value))
    exponent = point - 1
    if exponent < -4 or exponent >= exp_threshold:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = "E" if upper else "e"
        return f"{sign}{mantissa}{e}{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _format_float_v(value: float) -> str:
    # Floats from JSON data that hold whole numbers print as integers, as the CLI's typed
    # fields (int64 Size and the like) do; a float written in the template prints as Go's.
    if (not isinstance(value, _ConstFloat) and math.isfinite(value) and value == int(value)
            and abs(value) < 1e21):
        return str(int(value))
    return _float_g_shortest(value)


def _sprint(args: Sequence[Any]) -> str:
    """fmt.Sprint: spaces between operands when neither side is a string."""
    out = []
    previous_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not previous_string:
            out.append(" ")
        out.append(_format_arg(arg, "v"))
        previous_string = is_string
    return "".join(out)


class _Spec:
    """A parsed %-directive: flags, width, precision and verb."""

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = False  # %+v: struct field names
        self.width: Optional[int] = None
        self.precision: Optional[int] = None
        self.verb = "v"

    def pad(self, text: str, numeric: bool = False) -> str:
        if self.width is None or len(text) >= self.width:
            return text
        fill = self.width - len(text)
        if self.minus:
            return text + " " * fill
        if self.zero and numeric:
            sign = text[0] if text[:1] in "+- " and text[:1] != "" else ""
            return sign + "0" * fill + text[len(sign):]
        return " " * fill + text


_PLAIN = _Spec()


def _format_arg(value: Any, verb: str, spec: _Spec = _PLAIN, depth: int = 0) -> str:
    """One argument under one verb, as fmt's printArg/printValue write it."""
    if verb == "T":
        return spec.pad(_type_name(value))
    if value is None or value is _NO_VALUE:
        if depth > 0 or verb == "v":
            return spec.pad("<nil>")
        return _bad_verb(value, verb)
    if isinstance(value, (_Time, _Duration, _JsonNumber)) and verb in "vsqxX":
        text = str(value) if not isinstance(value, _Duration) else _duration_string(value)
        return _format_string(text, verb, spec)
    if isinstance(value, bool):
        if verb in "tv":
            return spec.pad("true" if value else "false")
        return _bad_verb(value, verb)
    if isinstance(value, int):
        return _format_int(value, verb, spec)
    if isinstance(value, float):
        return _format_float(value, verb, spec)
    if isinstance(value, complex):
        if verb not in "veEfFgG":
            return _bad_verb(value, verb)
        real_spec, imag_spec = copy.copy(spec), copy.copy(spec)
        real_spec.width = imag_spec.width = None  # the width applies to the whole "(a+bi)"
        imag_spec.plus = True
        text = f"({_format_float(value.real, verb, real_spec, exact=True)}" \
               f"{_format_float(value.imag, verb, imag_spec, exact=True)}i)"
        return spec.pad(text)
    if isinstance(value, str):
        return _format_string(value, verb, spec)
    if isinstance(value, _Ptr):
        if value.target is None:
            return spec.pad("<nil>")
        # Inside a struct Go prints a pointer's address, different on every run; the value
        # it points to is of more use.
        if isinstance(value.target, _Struct):
            return "&" + _format_arg(value.target, verb, spec, depth + 1)
        return _format_arg(value.target, verb, spec, depth + 1)
    items = _sequence(value)
    if items is not None:
        return "[" + " ".join(_format_arg(item, verb, spec, depth + 1) for item in items) + "]"
    entries = _mapping(value)
    if entries is not None:
        return "map[" + " ".join(
            f"{_format_arg(key, verb, spec, depth + 1)}:{_format_arg(entries[key], verb, spec, depth + 1)}"
            for key in sorted(entries)) + "]"
    if isinstance(value, _Struct):
        parts = []
        for field, field_value in value.values():
            text = _format_arg(field_value, verb, spec, depth + 1)
            parts.append(f"{field.name}:{text}" if spec.plus_v else text)
        return "{" + " ".join(parts) + "}"
    if isinstance(value, _EmptyStruct):
        return "{}"
    if isinstance(value, (_Time, _Duration)):
        return _bad_verb(value, verb)
    return spec.pad(str(value))


def _bad_verb(value: Any, verb: str) -> str:
    if value is None or value is _NO_VALUE:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_type_name(value)}={_format_arg(value, 'v')})"


def _format_string(text: str, verb: str, spec: _Spec) -> str:
    if verb in "vs":
        if spec.precision is not None:
            text = text[:spec.precision]
        return spec.pad(text)
    if verb == "q":
        if spec.precision is not None:
            text = text[:spec.precision]
        if spec.sharp and "`" not in text and all(_is_print(ch) or ch == "\t" for ch in text):
            return spec.pad(f"`{text}`")
        return spec.pad(_go_quote(text))
    if verb in "xX":
        data = text.encode("utf-8")
        if spec.precision is not None:
            data = data[:spec.precision]
        digits = data.hex() if verb == "x" else data.hex().upper()
        if spec.space:
            digits = " ".join(digits[i:i + 2] for i in range(0, len(digits), 2))
        return spec.pad(digits)
    return _bad_verb(text, verb)


def _format_int(value: int, verb: str, spec: _Spec) -> str:
    number = int(value)
    if verb == "c":
        return spec.pad(chr(number) if 0 <= number <= 0x10FFFF else "\ufffd")
    if verb == "q":
        return spec.pad(_go_quote(chr(number), "'") if 0 <= number <= 0x10FFFF else "'\ufffd'")
    if verb == "U":
        text = f"U+{number:04X}"
        if spec.sharp and 0 <= number <= 0x10FFFF and _is_print(chr(number)):
            text += f" '{chr(number)}'"
        return spec.pad(text)
    bases = {"d": (10, ""), "v": (10, ""), "b": (2, "0b"), "o": (8, "0"), "O": (8, "0o"),
             "x": (16, "0x"), "X": (16, "0X")}
    if verb not in bases:
        return _bad_verb(value, verb)
    base, prefix = bases[verb]
    digits = {2: "b", 8: "o", 10: "d", 16: "x"}[base]
    body = format(abs(number), digits)
    if verb == "X":
        body = body.upper()
    if spec.precision is not None:
        body = body.rjust(spec.precision, "0") if spec.precision else ("" if number == 0 else body)
    if verb == "O" or (spec.sharp and verb in "boxX"):
        body = prefix + body
    sign = "-" if number < 0 else ("+" if spec.plus else (" " if spec.space else ""))
    return spec.pad(sign + body, numeric=spec.precision is None)


def _format_float(value: float, verb: str, spec: _Spec, exact: bool = False) -> str:
    if verb not in "veEfFgG":
        return _bad_verb(value, verb)
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        if text == "+Inf" and not spec.plus:
            text = "Inf"
        return spec.pad(text)
    if verb == "v" and spec.precision is None:
        text = _float_g_shortest(value) if exact else _format_float_v(value)
    elif verb == "v":
        text = f"{value:.{spec.precision}g}"
    elif verb in "gG" and spec.precision is None:
        text = _float_g_shortest(value, upper=verb == "G")
    else:
        precision = 6 if spec.precision is None else spec.precision
        text = f"{value:.{precision}{verb}}"
    if spec.plus and not text.startswith("-"):
        text = "+" + text
    elif spec.space and not text.startswith("-"):
        text = " " + text
    return spec.pad(text, numeric=True)


def _sprintf(template: str, args: Sequence[Any]) -> str:
    """fmt.Sprintf, with Go's complaints (%!d(string=x), %!v(MISSING), %!(EXTRA ...))."""
    out: List[str] = []
    arg_num = 0
    reordered = False
    bad_index = False
    i = 0
    end = len(template)
    while i < end:
        percent = template.find("%", i)
        if percent < 0:
            out.append(template[i:])
            break
        out.append(template[i:percent])
        i = percent + 1
        spec = _Spec()
        bad_index = False
        while i < end and template[i] in "-+# 0":
            flag = template[i]
            spec.minus |= flag == "-"
            spec.plus |= flag == "+"
            spec.sharp |= flag == "#"
            spec.space |= flag == " "
            spec.zero |= flag == "0"
            i += 1

        def arg_index() -> None:
            nonlocal i, arg_num, reordered, bad_index
            match = re.match(r"\[(\d*)\]", template[i:])
            if match:
                reordered = True
                index = int(match.group(1) or 0)
                if 1 <= index <= len(args):
                    arg_num = index - 1
                else:
                    bad_index = True
                i += match.end()

        def number() -> Optional[int]:
            nonlocal i, arg_num
            if i < end and template[i] == "*":
                i += 1
                if arg_num < len(args) and isinstance(args[arg_num], int) and not isinstance(args[arg_num], bool):
                    value = int(args[arg_num])
                    arg_num += 1
                    return value
                arg_num += 1
                out.append("%!(BADWIDTH)")
                return None
            match = re.match(r"\d+", template[i:])
            if not match:
                return None
            i += match.end()
            return int(match.group(0))

        arg_index()
        spec.width = number()
        if spec.width is not None and spec.width < 0:
            spec.minus, spec.width = True, -spec.width
        if i < end and template[i] == ".":
            i += 1
            arg_index()
            spec.precision = number() or 0
        arg_index()
        if i >= end:
            out.append("%!(NOVERB)")
            break
        verb = template[i]
        i += 1
        if spec.minus:
            spec.zero = False
        if verb == "%":
            out.append("%")
            continue
        if bad_index:
            out.append(f"%!{verb}(BADINDEX)")
            continue
        if arg_num >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        value = args[arg_num]
        arg_num += 1
        if verb == "v":
            spec.plus_v, spec.plus = spec.plus, False
            spec.sharp = False  # Go-syntax (%#v) output is not reproduced; plain %v instead
        out.append(_format_arg(value, verb, spec))
    if not reordered and arg_num < len(args):
        extra = ", ".join(
            "<nil>" if arg is None else f"{_type_name(arg)}={_format_arg(arg, 'v')}"
            for arg in args[arg_num:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _duration_string(nanos: int) -> str:
    """time.Duration.String: 1h2m3.5s, 1.5ms, 0s."""
    if nanos == 0:
        return "0s"
    negative = nanos < 0
    u = abs(nanos)

    def fraction(value: int, precision: int) -> str:
        whole, part = divmod(value, 10 ** precision)
        digits = f"{part:0{precision}d}".rstrip("0") if precision else ""
        return f"{whole}" + (f".{digits}" if digits else "")

    if u < 10 ** 9:
        if u < 10 ** 3:
            text = fraction(u, 0) + "ns"
        elif u < 10 ** 6:
            text = fraction(u, 3) + "\u00b5s"
        else:
            text = fraction(u, 6) + "ms"
    else:
        seconds, part = divmod(u, 10 ** 9)
        digits = f"{part:09d}".rstrip("0")
        text = f"{seconds % 60}" + (f".{digits}" if digits else "") + "s"
        minutes = seconds // 60
        if minutes:
            text = f"{minutes % 60}m" + text
            hours = minutes // 60
            if hours:
                text = f"{hours}h" + text
    return ("-" if negative else "") + text


# --------------------------------------------------------------------------------------------
# Go's encoding/json, as docker's json function uses it (SetEscapeHTML(false)).

def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t\b\f":
            out.append("\\" + "nrtbf"["\n\r\t\b\f".index(ch)])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif ch in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"json: unsupported value: {_float_g_shortest(value)}")
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = _float_g_shortest(value, exp_threshold=-100)
        return re.sub(r"e-0(\d)$", r"e-\1", text)
    sign = "-" if value < 0 else ""
    digits, point = _float_digits(magnitude)
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _is_empty_value(value: Any) -> bool:
    """encoding/json's isEmptyValue, for omitempty."""
    if value is None or value is _NO_VALUE:
        return True
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    if isinstance(value, _Slice):
        return not value.items
    if isinstance(value, _Map):
        return not value.entries
    if isinstance(value, _Ptr):
        return value.target is None
    return False


def _json_marshal(value: Any, sort_keys: bool) -> str:
    if value is None or value is _NO_VALUE:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _JsonNumber):
        if not re.fullmatch(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?", value):
            raise ValueError(f"json: invalid number literal {_go_quote(value)}")
        return str(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, _Time):
        return value.json()
    if isinstance(value, _EmptyStruct):
        return "{}"
    if isinstance(value, _Ptr):
        return _json_marshal(value.target, sort_keys)
    if isinstance(value, _Slice):
        if value.items is None:
            return "null"
        return "[" + ",".join(_json_marshal(item, sort_keys) for item in value.items) + "]"
    if isinstance(value, list):
        return "[" + ",".join(_json_marshal(item, sort_keys) for item in value) + "]"
    if isinstance(value, _Map):
        if value.entries is None:
            return "null"
        return _json_object(sorted(value.entries.items()), sort_keys)
    if isinstance(value, dict):
        entries = sorted(value.items()) if sort_keys else list(value.items())
        return _json_object(entries, sort_keys)
    if isinstance(value, _Struct):
        return _json_object(list(_json_fields(value)), sort_keys)
    raise ValueError(f"json: unsupported type: {_type_name(value)}")


def _json_fields(value: _Struct) -> Iterator[Tuple[str, Any]]:
    for field, field_value in value.values():
        if field.embedded:
            yield from _json_fields(field_value)
        elif not (field.omitempty and _is_empty_value(field_value)):
            yield field.json_name, field_value


def _json_object(entries: Sequence[Tuple[str, Any]], sort_keys: bool) -> str:
    return "{" + ",".join(f"{_json_string(key)}:{_json_marshal(item, sort_keys)}"
                          for key, item in entries) + "}"
