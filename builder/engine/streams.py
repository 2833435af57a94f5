"""Reading the engine's JSON message streams (build, push, pull, load, import)."""
from __future__ import annotations

import re
from typing import Callable, Optional, Tuple

# How the engine words a registry failure that may go away on its own: a 5xx answer, or a
# connection that broke half-way. A refused connection, an unknown host, or a registry that says
# "denied" / "unknown" / "not found" will not get better by asking again.
_RETRYABLE = re.compile(
    r"\b(?:50[0234])\b|internal server error|bad gateway|service unavailable|gateway time-?out"
    r"|connection reset|broken pipe|unexpected eof|\beof\b|i/o timeout|tls handshake timeout"
    r"|use of closed network connection|client\.timeout exceeded|server misbehaving",
    re.IGNORECASE,
)
_PERMANENT = re.compile(
    r"connection refused|no such host|denied|unauthorized|not found|(?:manifest|name|blob) unknown",
    re.IGNORECASE,
)


def message_error(message: dict) -> Optional[Tuple[str, Optional[int]]]:
    """(text, code) when a stream message reports an error, else None.

    ``errorDetail`` is read before ``error``: it is the structured form and carries the code
    (a RUN's exit status); ``error`` is its flattened copy, kept for old clients.
    """
    detail = message.get("errorDetail")
    if isinstance(detail, dict) and (detail.get("message") or message.get("error")):
        code = detail.get("code")
        return str(detail.get("message") or message.get("error")).strip(), code if isinstance(code, int) else None
    if message.get("error"):
        return str(message["error"]).strip(), None
    return None


def is_retryable(error_text: str) -> bool:
    """Whether a push or pull that failed with ``error_text`` is worth trying again."""
    return bool(_RETRYABLE.search(error_text)) and not _PERMANENT.search(error_text)


def describe_status(message: dict) -> Optional[str]:
    """A one-line rendering of a ``status`` message (``ID: Pull complete``), or None for the
    progress-bar ticks that would flood a log."""
    status = message.get("status")
    if not status:
        return None
    detail = message.get("progressDetail") or {}
    if detail.get("current") is not None and detail.get("total"):
        return None
    layer = message.get("id")
    return f"{layer}: {status}" if layer else str(status)


class LineSplitter:
    """Reassembles the engine's ``stream`` fragments into whole lines.

    The classic builder sends ``Step 1/2 : FROM scratch`` and its newline as two messages, and
    a RUN's output in whatever pieces the process wrote; ``sink`` gets one line at a time, without
    the line break.
    """

    def __init__(self, sink: Callable[[str], None]):
        self._sink = sink
        self._pending = ""
        self.last_lines: list = []

    def feed(self, text: str) -> None:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._emit(line.rstrip("\r"))

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self._emit(line.rstrip("\r"))

    def _emit(self, line: str) -> None:
        self.last_lines = (self.last_lines + [line])[-5:]
        self._sink(line)
