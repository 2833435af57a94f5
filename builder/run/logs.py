"""Per-image build logs on disk, so a failure can show its last lines and point at the whole log."""
from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import IO, Dict, List

TAIL_BLOCK_SIZE = 8192

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def default_log_dir(project_root: Path) -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/images/logs/<short hash of the project root>``.

    The hash keeps two checkouts of the same repository apart. A relative ``XDG_CACHE_HOME`` is
    ignored, as the XDG base directory specification asks.
    """
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache_home) if os.path.isabs(cache_home) else Path.home() / ".cache"
    root = os.path.abspath(os.fspath(project_root))
    digest = hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return base / "images" / "logs" / digest


class LogStore:
    """One log file per image, ``<directory>/<image>.log``, written from any thread.

    Lines are written whole (one write under a lock) and flushed, so ``tail`` and a user's
    ``tail -f`` see them while the build runs.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._files: Dict[str, IO[str]] = {}
        self._lock = threading.Lock()

    def path(self, image: str) -> Path:
        return self.directory / _file_name(image)

    def open(self, image: str) -> None:
        """Start the image's log afresh (truncating an earlier one)."""
        self._open(image, "w")

    def write(self, image: str, line: str) -> None:
        """Append ``line`` (a newline is added unless it ends with one).

        Writing to an image that is not open appends to its existing log.
        """
        text = line if line.endswith("\n") else line + "\n"
        with self._lock:
            handle = self._files.get(image)
            if handle is None:
                handle = self._files[image] = self._new_handle(image, "a")
            handle.write(text)
            handle.flush()

    def close(self, image: str) -> None:
        with self._lock:
            handle = self._files.pop(image, None)
        if handle is not None:
            handle.close()

    def close_all(self) -> None:
        with self._lock:
            handles, self._files = list(self._files.values()), {}
        for handle in handles:
            handle.close()

    def __enter__(self) -> "LogStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close_all()

    def tail(self, image: str, n: int = 30) -> List[str]:
        """The last ``n`` lines of the image's log (without newlines); [] if there is none.

        Reads backwards from the end in blocks, so a log of gigabytes costs a few reads.
        """
        if n <= 0:
            return []
        with self._lock:
            handle = self._files.get(image)
            if handle is not None:
                handle.flush()
        try:
            with open(self.path(image), "rb") as f:
                data = _read_tail(f, n)
        except FileNotFoundError:
            return []
        lines = data.decode("utf-8", "replace").split("\n")
        if lines[-1] == "":
            lines.pop()  # the newline that ends the last line
        return lines[-n:]

    def _open(self, image: str, mode: str) -> None:
        with self._lock:
            old = self._files.pop(image, None)
            if old is not None:
                old.close()
            self._files[image] = self._new_handle(image, mode)

    def _new_handle(self, image: str, mode: str) -> IO[str]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return open(self.path(image), mode, encoding="utf-8", errors="replace", newline="\n")


def _read_tail(f, n: int) -> bytes:
    """Enough bytes from the end of ``f`` to hold its last ``n`` lines."""
    end = f.seek(0, os.SEEK_END)
    pos = end
    chunks: List[bytes] = []
    newlines = 0
    # A final newline ends the last line; it does not start another one.
    wanted = n + 1
    while pos > 0 and newlines < wanted:
        size = min(TAIL_BLOCK_SIZE, pos)
        pos -= size
        f.seek(pos)
        chunk = f.read(size)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    if pos > 0:
        # The first line may be cut (even mid-character); it is not among the last n anyway.
        data = data[data.index(b"\n") + 1:]
    return data


def _file_name(image: str) -> str:
    """``<image>.log``; a name that is not a safe file name gets a readable form plus a hash."""
    if _SAFE_NAME.fullmatch(image) and len(image) <= 200:
        return image + ".log"
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", image).strip("._")[:100] or "image"
    digest = hashlib.sha256(image.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{readable}-{digest}.log"
