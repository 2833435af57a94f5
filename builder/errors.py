"""Typed errors. The library raises these; only the CLI prints them and picks the exit code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


class ImagesError(Exception):
    """Base of every expected failure. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a manifest, at a place in a file.

    Rendered as ``FILE:LINE:COL: dotted.path: message`` (line and column are 1-based).
    ``line``/``col`` are 0 when the place is the whole file.
    """

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ManifestError(ImagesError):
    """The manifest is invalid. Carries every problem found, sorted by place."""

    exit_code = 2

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.path, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(ImagesError):
    """Bad command line: unknown selector, bad option value."""

    exit_code = 2


class EngineUnavailable(ImagesError):
    """No Docker engine answers at the endpoint tried."""

    exit_code = 3


class EngineError(ImagesError):
    """The engine answered but an operation failed (missing image, registry refused, ...)."""

    exit_code = 1


class BuildFailed(ImagesError):
    """One or more images failed to build. ``results`` holds what happened to each."""

    exit_code = 1

    def __init__(self, message: str, results: Optional[list] = None):
        super().__init__(message)
        self.results = results or []


class Interrupted(ImagesError):
    exit_code = 130


class BuildError(EngineError):
    """The engine reported a failed build: a RUN that exited non-zero, a missing file, a bad
    Dockerfile. ``code`` is the engine's error code when it sent one (a RUN's exit status)."""

    def __init__(self, message: str, code: Optional[int] = None):
        super().__init__(message)
        self.code = code


class Cancelled(ImagesError):
    """An engine operation was cancelled before it finished; the engine was told to stop."""

    exit_code = 130
