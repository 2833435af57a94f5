"""Progress output for a build: a live board on a terminal, prefixed lines, JSON events or silence.

Events come from worker threads; every sink is thread-safe. Nothing here knows about Docker: an
event names an image and says what happened to it.

What ``Event.text`` carries, by kind:

- ``waiting``, ``start``: why the image is (to be) built, e.g. ``no earlier build``
- ``step``: the instruction, e.g. ``RUN make`` (a leading ``Step 3/7 : `` is tolerated)
- ``log``: one or more lines of build output
- ``cached``: the cache key, or a sentence saying why the image is up to date
- ``done``: optional detail such as the image ID
- ``failed``: the error message; ``skipped``, ``cancelled``: the cause
- ``info``: a message; ``image`` may be empty
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from typing import IO, Dict, List, Optional, Sequence, Tuple

KINDS = ("waiting", "start", "step", "log", "cached", "done", "failed", "skipped", "cancelled", "info")
MODES = ("auto", "tty", "plain", "quiet", "json")
JSON_VERSION = 1

#: The live board is redrawn at most this often, and at least once a second while it changes.
MIN_REDRAW_INTERVAL_S = 0.1
IDLE_REDRAW_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Event:
    image: str
    kind: str
    step: int = 0
    steps: int = 0
    text: str = ""
    duration_s: Optional[float] = None
    time: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown progress event kind {self.kind!r}; expected one of {', '.join(KINDS)}")


class Progress:
    """A sink for events that shows nothing. Subclasses override ``_handle`` and ``_finish``.

    Call it with events from any thread; ``close()`` (or leaving the ``with`` block) flushes the
    final output. Events after close are ignored.
    """

    def __init__(self, stream: Optional[IO[str]] = None):
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.RLock()
        self._closed = False

    def __call__(self, event: Event) -> None:
        with self._lock:
            if not self._closed:
                self._handle(event)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finish()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _handle(self, event: Event) -> None:
        pass

    def _finish(self) -> None:
        pass

    def _write(self, text: str) -> None:
        # Progress is a side channel: a closed or broken stderr must not fail the build.
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


class PlainProgress(Progress):
    """One prefixed line per event, for logs and CI: ``[name] Step 3/7 : RUN make``."""

    def _handle(self, event: Event) -> None:
        lines = plain_lines(event)
        if lines:
            self._write("".join(line + "\n" for line in lines))


class QuietProgress(Progress):
    """Nothing but failures."""

    def _handle(self, event: Event) -> None:
        if event.kind == "failed":
            self._write("".join(line + "\n" for line in plain_lines(event)))


class JsonProgress(Progress):
    """One JSON object per line: ``{"version": 1, "time": ..., "image": ..., "event": ...}``.

    ``time`` is wall-clock (seconds since the epoch); ``step``/``steps`` appear on ``step``
    events, ``text`` when not empty, ``duration_s`` when known.
    """

    def __init__(self, stream: Optional[IO[str]] = None):
        super().__init__(stream)
        self._clock_offset = time.time() - time.monotonic()

    def _handle(self, event: Event) -> None:
        data: Dict[str, object] = {"version": JSON_VERSION, "time": round(event.time + self._clock_offset, 3),
                                   "image": event.image, "event": event.kind}
        if event.kind == "step":
            data["step"] = event.step
            data["steps"] = event.steps
        if event.text:
            data["text"] = event.text
        if event.duration_s is not None:
            data["duration_s"] = round(event.duration_s, 3)
        self._write(json.dumps(data) + "\n")


# --- plain lines -------------------------------------------------------------------------------

# The classic builder's "Step 3/7 : " and BuildKit's "#5 " (before "[3/7] RUN make").
_STEP_PREFIX = re.compile(r"^(?:Step \d+(?:/\d+)? : |#\d+ (?=\[))")
_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


def plain_lines(event: Event) -> List[str]:
    """The lines the plain sink prints for ``event`` (none for ``waiting``)."""
    kind, text = event.kind, event.text
    prefix = f"[{event.image}] " if event.image else ""
    if kind == "waiting":
        return []
    if kind == "start":
        head = "building" + (f": {text}" if text else "")
    elif kind == "step":
        if text.startswith("#"):
            head = text  # BuildKit's own line, which carries its counter: "#5 [3/7] RUN make"
        else:
            counter = f"{event.step}/{event.steps}" if event.steps else str(event.step)
            head = f"Step {counter} : {_STEP_PREFIX.sub('', text)}"
    elif kind in ("log", "info"):
        return [prefix + line for line in text.splitlines()] if text else []
    elif kind == "cached":
        if _is_key(text):
            head = f"cached ({_describe_cached(text)})"
        else:
            head = "cached" + (f": {text}" if text else "")
    elif kind == "done":
        head = "done"
        if event.duration_s is not None:
            head += f" in {format_duration(event.duration_s)}"
        if text:
            head += f" ({short_id(text)})"
    elif kind == "failed":
        first, *rest = text.splitlines() or [""]
        return [prefix + "FAILED" + (f": {first}" if first else "")] + [prefix + line for line in rest]
    else:  # skipped, cancelled
        head = kind + (f": {text}" if text else "")
    return [prefix + head]


def _is_key(text: str) -> bool:
    return bool(text) and not any(c.isspace() for c in text)


def _describe_cached(text: str) -> str:
    """A bare cache key is shown shortened; a sentence as it is."""
    return f"key {short_id(text, ellipsis=True)}" if _is_key(text) else text


def short_id(text: str, *, ellipsis: bool = False) -> str:
    """``sha256:3f2a…`` -> its first 12 hex digits, as ``docker images`` shows IDs."""
    match = _SHA256.match(text)
    digits = match.group(1) if match else text
    if len(digits) <= 12 or (not match and not ellipsis):
        return digits
    return digits[:12] + ("…" if ellipsis else "")


def format_duration(seconds: float, *, precise: bool = True) -> str:
    """``4.2s``, ``12s``, ``3m05s``, ``1h02m``; ``precise`` keeps tenths under a minute."""
    if seconds < 60:
        return f"{seconds:.1f}s" if precise else f"{int(seconds)}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# --- the live board ----------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_COLOURS = {"waiting": "2", "building": "36", "cached": "34", "done": "32", "failed": "1;31",
            "skipped": "33", "cancelled": "33"}
_SUMMARY_ORDER = ("building", "failed", "done", "cached", "skipped", "cancelled", "waiting")
_FINAL_STATES = ("cached", "done", "failed", "skipped", "cancelled")
_NAME_WIDTH_MAX = 32


def clean_line(text: str) -> str:
    """The last visible line of ``text`` without escape sequences or control characters.

    Build output carries colour codes and ``\\r``-redrawn progress bars; either would break a
    board that counts columns.
    """
    lines = [seg for line in text.splitlines() for seg in line.split("\r")]
    for line in reversed(lines):
        line = _CONTROL.sub("", _ANSI.sub("", line).replace("\t", " ")).strip()
        if line:
            return line
    return ""


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(_char_width(c) for c in text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns, ending in ``…`` when cut."""
    if width <= 0:
        return ""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = _char_width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


class _Row:
    __slots__ = ("name", "status", "step", "steps", "started", "duration", "detail")

    def __init__(self, name: str):
        self.name = name
        self.status = "waiting"
        self.step = 0
        self.steps = 0
        self.started: Optional[float] = None
        self.duration: Optional[float] = None
        self.detail = ""

    def label(self) -> str:
        if self.status == "building" and self.step:
            counter = f"{self.step}/{self.steps}" if self.steps else str(self.step)
            return f"building step {counter}"
        return self.status

    def elapsed(self, now: float) -> str:
        if self.status == "building" and self.started is not None:
            return format_duration(max(0.0, now - self.started), precise=False)
        if self.duration is not None:
            return format_duration(self.duration)
        return ""


class TtyProgress(Progress):
    """A board redrawn in place: one row per image with its status, time and latest log line.

    A background thread redraws at most every ``MIN_REDRAW_INTERVAL_S`` when events arrive, and
    once a second otherwise so running times advance. When the board is taller than the
    terminal, it shows the running (and failed) images and a summary line. ``close()`` replaces
    the live board with the final one, after which nothing moves the cursor.
    """

    def __init__(self, stream: Optional[IO[str]] = None, images: Sequence[str] = (), colour: bool = True):
        super().__init__(stream)
        self.colour = colour
        self._rows: Dict[str, _Row] = {}
        for name in images:
            self._row(name)
        self._drawn_lines = 0
        self._dirty = True
        self._cond = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._redraw_loop, name="images-progress", daemon=True)
        self._thread.start()

    # events (called with the lock held)
    def _handle(self, event: Event) -> None:
        if event.kind == "info":
            self._print_above(plain_lines(event))
            return
        row = self._row(event.image)
        kind, text = event.kind, event.text
        if kind == "waiting":
            row.status, row.detail = "waiting", clean_line(text)
        elif kind in ("start", "step"):
            if row.status != "building":
                row.status, row.started, row.duration = "building", event.time, None
            if kind == "step":
                row.step, row.steps = event.step, event.steps
                row.detail = clean_line(_STEP_PREFIX.sub("", text))
            else:
                row.detail = clean_line(text)
        elif kind == "log":
            line = clean_line(text)
            if line:
                row.detail = line
        else:  # a final state
            if event.duration_s is not None:
                row.duration = event.duration_s
            elif row.started is not None:
                row.duration = max(0.0, event.time - row.started)
            row.status = kind
            row.detail = clean_line(text.splitlines()[0] if text.splitlines() else "")
            if kind == "done":
                row.detail = short_id(row.detail)
            elif kind == "cached":
                row.detail = _describe_cached(row.detail)
        self._dirty = True
        self._cond.notify_all()

    def _row(self, name: str) -> _Row:
        row = self._rows.get(name)
        if row is None:
            row = self._rows[name] = _Row(name)
        return row

    # drawing
    def _redraw_loop(self) -> None:
        while True:
            with self._cond:
                if not self._dirty and not self._closed:
                    self._cond.wait(timeout=IDLE_REDRAW_INTERVAL_S)
                if self._closed:
                    return
                if self._dirty or any(r.status == "building" for r in self._rows.values()):
                    self._dirty = False
                    self._draw(self._board(live=True))
            if self._closing.wait(MIN_REDRAW_INTERVAL_S):
                return

    def _finish(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._closing.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        with self._lock:
            # Erase the live board, then print the final one as plain lines: whatever follows
            # on the terminal (or in a scrollback) starts below it.
            board = self._board(live=False)
            self._write(self._erase() + "".join(line + "\n" for line in board))
            self._drawn_lines = 0

    def _print_above(self, lines: List[str]) -> None:
        width = self._size()[0]
        board = self._board(live=True)
        self._write(self._erase() + "".join(fit(clean_line(line), width) + "\n" for line in lines)
                    + "".join(line + "\n" for line in board))
        self._drawn_lines = len(board)

    def _erase(self) -> str:
        if not self._drawn_lines:
            return ""
        return f"\r\x1b[{self._drawn_lines}A\x1b[J"

    def _draw(self, board: List[str]) -> None:
        if not board and not self._drawn_lines:
            return
        up = f"\r\x1b[{self._drawn_lines}A" if self._drawn_lines else ""
        self._write(up + "".join("\x1b[2K" + line + "\n" for line in board) + "\x1b[J")
        self._drawn_lines = len(board)

    def _size(self) -> Tuple[int, int]:
        columns, lines = terminal_size(self.stream)
        # One column spare: writing into the last one makes some terminals wrap early.
        return max(10, columns - 1), max(3, lines)

    def _board(self, *, live: bool) -> List[str]:
        width, height = self._size()
        rows = list(self._rows.values())
        if not rows:
            return []
        now = time.monotonic()
        shown = rows
        summary = None
        # The last terminal line holds the cursor; the board must fit above it.
        if len(rows) > height - 1:
            if live:
                running = sorted((r for r in rows if r.status == "building"),
                                 key=lambda r: (r.started or 0.0, r.name))
                failed = [r for r in rows if r.status == "failed"]
                shown = (running + failed)[: height - 2]
            else:
                shown = [r for r in rows if r.status not in ("done", "cached")]
            counts = {s: 0 for s in _SUMMARY_ORDER}
            for r in rows:
                counts[r.status] += 1
            summary = ", ".join(f"{counts[s]} {s}" for s in _SUMMARY_ORDER if counts[s])
        name_w = min(_NAME_WIDTH_MAX, max(display_width(r.name) for r in rows))
        label_w = max(len(r.label()) for r in rows)
        time_w = max(len(r.elapsed(now)) for r in rows)
        lines = [self._render(r, now, width, name_w, label_w, time_w) for r in shown]
        if summary is not None:
            lines.append(fit(summary, width))
        return lines

    def _render(self, row: _Row, now: float, width: int, name_w: int, label_w: int, time_w: int) -> str:
        name = _pad(fit(row.name, name_w), name_w)
        label = row.label()
        elapsed = row.elapsed(now).rjust(time_w)
        head = f"{name}  {_pad(label, label_w)}  {elapsed}"
        detail = f"  {row.detail}" if row.detail else ""
        plain = fit((head + detail).rstrip(), width)
        if not self.colour or not plain.startswith(f"{name}  {label}"):
            return plain
        start = len(name) + 2
        sgr = _COLOURS.get(row.status, "0")
        return f"{plain[:start]}\x1b[{sgr}m{label}\x1b[0m{plain[start + len(label):]}"


def make_progress(mode: str, stream: Optional[IO[str]] = None, images: Sequence[str] = (),
                  no_color: Optional[bool] = None) -> Progress:
    """The progress sink for ``--progress MODE``: auto, tty, plain, quiet or json.

    ``auto`` is the live board when ``stream`` (default stderr) is a terminal, plain lines
    otherwise. Colour is off when ``no_color`` is true or, if it is None, when ``NO_COLOR`` is
    set to anything. Plain lines are never coloured.
    """
    stream = stream if stream is not None else sys.stderr
    if mode not in MODES:
        raise ValueError(f"unknown progress mode {mode!r}; expected one of {', '.join(MODES)}")
    if no_color is None:
        no_color = "NO_COLOR" in os.environ
    if mode == "auto":
        mode = "tty" if _is_terminal(stream) and os.environ.get("TERM") != "dumb" else "plain"
    if mode == "tty":
        return TtyProgress(stream, images=images, colour=not no_color)
    if mode == "plain":
        return PlainProgress(stream)
    if mode == "quiet":
        return QuietProgress(stream)
    return JsonProgress(stream)


def terminal_size(stream: IO[str]) -> Tuple[int, int]:
    """Columns and lines of the terminal behind ``stream``.

    Like ``shutil.get_terminal_size`` (``COLUMNS``/``LINES`` win, 80x24 as the fallback), but
    asks the progress stream rather than stdout, which is often redirected while stderr is not.
    """
    try:
        columns, lines = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return tuple(shutil.get_terminal_size())  # type: ignore[return-value]
    env_columns, env_lines = os.environ.get("COLUMNS", ""), os.environ.get("LINES", "")
    return (int(env_columns) if env_columns.isdigit() else columns,
            int(env_lines) if env_lines.isdigit() else lines)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
