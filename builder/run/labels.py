"""Labels as one Dockerfile instruction instead of the engine's one-step-per-label.

The classic builder turns each entry of the API's ``labels`` parameter into its own ``LABEL``
step, and every step commits a container: five labels cost five container round trips per
image. Appending a single ``LABEL`` instruction to the Dockerfile we stream gives the same image
config in one step. The file on disk is untouched, and the cache key is computed from it: the
appended line carries values the key covers (the manifest's labels, the key itself) and the
provenance labels (revision, creation time), which deliberately stay out of the key so that a
new commit or a new day does not rebuild an unchanged image.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional, Sequence

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")


def _escape_char(text: str) -> str:
    """The ``# escape=`` parser directive's character (backslash when absent)."""
    for line in text.splitlines():
        m = _DIRECTIVE.match(line.strip())
        if not m:
            break  # directives only stand before the first other line
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            return m.group(2)
    return "\\"


def _quote(value: str, esc: str) -> str:
    out = []
    for ch in value:
        if ch in ('"', "$", esc):
            out.append(esc)
        out.append(ch)
    return '"' + "".join(out) + '"'


def with_labels(text: str, labels: Mapping[str, str], stages: Sequence[str],
                target: Optional[str]) -> Optional[str]:
    """``text`` with one ``LABEL`` for all ``labels`` appended, or None when that is unsafe.

    Unsafe: a target that is not the last stage (the line would land in the wrong stage), a
    value or key with a line break, or a file ending inside a heredoc or a continuation line.
    """
    if not labels:
        return text
    if target is not None and (not stages or stages[-1] != target.lower()):
        return None
    if any("\n" in k or "\r" in k or "\n" in v or "\r" in v for k, v in labels.items()):
        return None
    esc = _escape_char(text)
    body = text.rstrip("\n")
    if body.rstrip().endswith(esc) or "<<" in text:
        return None
    pairs = " ".join(f"{_quote(k, esc)}={_quote(v, esc)}" for k, v in labels.items())
    return f"{body}\nLABEL {pairs}\n"
