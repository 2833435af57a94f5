"""Where `images` keeps what it may forget: stat caches, build records, logs, validation marks."""
from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/images`` (an absolute XDG_CACHE_HOME only, as the XDG spec asks), else ``~/.cache/images``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "images"
