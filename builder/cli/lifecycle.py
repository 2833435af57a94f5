"""The image lifecycle in the manifest's names: ls, inspect, history, tag, push, pull, save, load,
import, rm, prune. Imported when the parser is built: keep module-level imports light."""
from __future__ import annotations


def add_parsers(command) -> None:
    """Add this module's subcommands; ``command(name, help)`` returns a subparser."""
