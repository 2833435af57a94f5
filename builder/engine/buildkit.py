"""Reading the progress of a BuildKit build made through the engine's ``/build`` endpoint.

Asked for with ``version=2``, the engine builds with its built-in BuildKit and needs no session
when the context comes as the request body. Its progress then arrives as messages
``{"id": "moby.buildkit.trace", "aux": "<base64>"}``, each a protobuf ``StatusResponse`` of
BuildKit's control API::

    StatusResponse { repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2;
                     repeated VertexLog logs = 3; ... }
    Vertex         { string digest = 1; repeated string inputs = 2; string name = 3;
                     bool cached = 4; Timestamp started = 5; Timestamp completed = 6;
                     string error = 7; ... }
    VertexLog      { string vertex = 1; Timestamp timestamp = 2; int64 stream = 3; bytes msg = 4; }
    Timestamp      { int64 seconds = 1; int32 nanos = 2; }

Only those fields are read, with a few lines of wire-format decoding, so nothing is imported
for it. ``TraceRenderer`` turns them into the lines ``docker build --progress=plain`` prints::

    #3 [2/2] RUN make
    #3 0.412 compiling...
    #3 DONE 1.2s
"""
from __future__ import annotations

import base64
import binascii
import re
from typing import Callable, Dict, Iterator, List, Optional, Tuple

TRACE_ID = "moby.buildkit.trace"

# "[2/3] RUN make" or, in a multi-stage build, "[builder 2/3] RUN make".
STEP = re.compile(r"^\[(?:[^\]\s]+ )?(\d+)/(\d+)\] ")
# How the engine's BuildKit words a RUN that failed; the classic builder gives the code apart.
_EXIT_CODE = re.compile(r"(?:exit code|did not complete successfully: exit code): (\d+)\s*$")


class TraceError(ValueError):
    """A trace message that is not a StatusResponse."""


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise TraceError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise TraceError("varint too long")


def _fields(buf: bytes) -> Iterator[Tuple[int, object]]:
    """(field number, value) for each field of one message: an int for varints, bytes for
    length-delimited fields; fixed-width fields are skipped."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise TraceError("truncated field")
            yield number, buf[pos:pos + size]
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise TraceError(f"unsupported wire type {wire}")


def _timestamp(buf: bytes) -> float:
    seconds = nanos = 0
    for number, value in _fields(buf):
        if number == 1 and isinstance(value, int):
            seconds = value
        elif number == 2 and isinstance(value, int):
            nanos = value
    return seconds + nanos / 1e9


class Vertex:
    __slots__ = ("digest", "name", "cached", "started", "completed", "error")

    def __init__(self, digest: str) -> None:
        self.digest = digest
        self.name = ""
        self.cached = False
        self.started: Optional[float] = None
        self.completed: Optional[float] = None
        self.error = ""


def decode_status(aux: str) -> Tuple[List[Vertex], List[Tuple[str, float, bytes]]]:
    """The vertexes and logs ``(vertex digest, timestamp, bytes)`` of one trace message."""
    try:
        raw = base64.b64decode(aux, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise TraceError(f"not base64: {exc}") from None
    vertexes: List[Vertex] = []
    logs: List[Tuple[str, float, bytes]] = []
    for number, value in _fields(raw):
        if not isinstance(value, bytes):
            continue
        if number == 1:
            vertex = Vertex("")
            for field, item in _fields(value):
                if field == 1 and isinstance(item, bytes):
                    vertex.digest = item.decode("utf-8", "replace")
                elif field == 3 and isinstance(item, bytes):
                    vertex.name = item.decode("utf-8", "replace")
                elif field == 4 and isinstance(item, int):
                    vertex.cached = bool(item)
                elif field == 5 and isinstance(item, bytes):
                    vertex.started = _timestamp(item)
                elif field == 6 and isinstance(item, bytes):
                    vertex.completed = _timestamp(item)
                elif field == 7 and isinstance(item, bytes):
                    vertex.error = item.decode("utf-8", "replace")
            vertexes.append(vertex)
        elif number == 3:
            digest, stamp, msg = "", 0.0, b""
            for field, item in _fields(value):
                if field == 1 and isinstance(item, bytes):
                    digest = item.decode("utf-8", "replace")
                elif field == 2 and isinstance(item, bytes):
                    stamp = _timestamp(item)
                elif field == 4 and isinstance(item, bytes):
                    msg = item
            logs.append((digest, stamp, msg))
    return vertexes, logs


class TraceRenderer:
    """Turns trace messages into the plain progress lines of ``docker build``, one line at a
    time to ``sink``. Each vertex is numbered in the order it first appears."""

    def __init__(self, sink: Callable[[str], None]):
        self._sink = sink
        self._numbers: Dict[str, int] = {}
        self._names: Dict[str, str] = {}
        self._started: Dict[str, float] = {}
        self._done: set = set()
        self._announced: set = set()
        self._partial: Dict[str, str] = {}

    def feed(self, aux: str) -> None:
        vertexes, logs = decode_status(aux)
        for vertex in vertexes:
            self._vertex(vertex)
        for digest, stamp, msg in logs:
            self._log(digest, stamp, msg)

    def _number(self, digest: str) -> int:
        if digest not in self._numbers:
            self._numbers[digest] = len(self._numbers) + 1
        return self._numbers[digest]

    def _vertex(self, vertex: Vertex) -> None:
        digest = vertex.digest
        if not digest or digest in self._done:
            return
        if vertex.name:
            self._names[digest] = vertex.name
        if digest not in self._announced:
            if vertex.started is None and not vertex.cached and vertex.completed is None:
                return  # not started yet: named when it starts
            self._announce(digest)
        if vertex.started is not None:
            self._started.setdefault(digest, vertex.started)
        number = self._number(digest)
        if vertex.error:
            self._flush(digest)
            self._done.add(digest)
            self._sink(f"#{number} ERROR: {vertex.error}")
        elif vertex.cached:
            self._done.add(digest)
            self._sink(f"#{number} CACHED")
        elif vertex.completed is not None:
            self._flush(digest)
            self._done.add(digest)
            started = self._started.get(digest, vertex.completed)
            self._sink(f"#{number} DONE {max(0.0, vertex.completed - started):.1f}s")

    def _announce(self, digest: str) -> None:
        """The vertex's first line: its number and name."""
        self._announced.add(digest)
        self._sink(f"#{self._number(digest)} {self._names.get(digest, digest)}")

    def _log(self, digest: str, stamp: float, msg: bytes) -> None:
        if digest not in self._announced:
            self._announce(digest)
        number = self._number(digest)
        since = stamp - self._started.get(digest, stamp)
        text = self._partial.pop(digest, "") + msg.decode("utf-8", "replace")
        lines = text.split("\n")
        self._partial[digest] = lines.pop()
        for line in lines:
            self._sink(f"#{number} {since:.3f} {line.rstrip(chr(13))}")

    def _flush(self, digest: str) -> None:
        rest = self._partial.pop(digest, "")
        if rest:
            self._sink(f"#{self._number(digest)} {rest.rstrip(chr(13))}")


def step_of(line: str) -> Optional[Tuple[int, int]]:
    """(k, n) when ``line`` starts BuildKit step k of n (``#4 [2/3] RUN make``)."""
    head, _, rest = line.partition(" ")
    if not head.startswith("#") or not head[1:].isdigit():
        return None
    match = STEP.match(rest)
    return (int(match.group(1)), int(match.group(2))) if match else None


_NOISE = ("failed to solve with frontend dockerfile.v0: ", "failed to create LLB definition: ",
          "failed to solve: ")
_NO_DOCKERFILE = re.compile(r"failed to read dockerfile: open \S*?/buildkit-mount\d+/(.+): no such file or directory")
_NO_TARGET = re.compile(r"target stage (\S+) could not be found")


def error_message(message: str) -> str:
    """BuildKit's error without the solver's preamble, and the two refusals a caller most often
    meets in the words of the classic builder (naming the Dockerfile or the target)."""
    if message.strip() == "no active sessions":
        return ("the build needs a client session (a RUN --mount of type secret or ssh), which images "
                "does not open: such mounts are not supported; pass the value another way")
    match = _NO_DOCKERFILE.search(message)
    if match:
        return f"Cannot locate specified Dockerfile: {match.group(1)}"
    match = _NO_TARGET.search(message)
    if match:
        return f"failed to reach build target {match.group(1)} in Dockerfile"
    for noise in _NOISE:
        message = message.replace(noise, "")
    return message


def exit_code(message: str) -> Optional[int]:
    """The exit status in BuildKit's ``executor failed running [...]: exit code: 3``."""
    match = _EXIT_CODE.search(message)
    return int(match.group(1)) if match else None
