"""``--set IMAGE.KEY=VALUE`` overrides, applied to the loaded model (like bake's ``--set``)."""
from __future__ import annotations

import dataclasses
import fnmatch
from typing import Iterable

from builder.errors import UsageError
from builder.refs import validate_tag
from builder.manifest.model import Manifest

_SCALARS = {"dockerfile", "target", "platform"}
_MAPS = {"args", "labels"}


def apply_overrides(manifest: Manifest, overrides: Iterable[str]) -> Manifest:
    images = dict(manifest.images)
    for item in overrides:
        lhs, sep, value = item.partition("=")
        pattern, dot, key = lhs.partition(".")
        if not sep or not dot or not pattern or not key:
            raise UsageError(f"--set {item!r}: expected IMAGE.KEY=VALUE, e.g. --set 'app-*.args.VERSION=2'")
        matched = [n for n in images if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise UsageError(f"--set {item!r}: no image matches '{pattern}'")
        field, _, sub = key.partition(".")
        for name in matched:
            image = images[name]
            if field in _MAPS:
                if not sub:
                    raise UsageError(f"--set {item!r}: name the entry, e.g. {pattern}.{field}.NAME=VALUE")
                images[name] = dataclasses.replace(image, **{field: {**getattr(image, field), sub: value}})
            elif field in _SCALARS and not sub:
                if field == "dockerfile" and not value:
                    raise UsageError(f"--set {item!r}: the dockerfile cannot be empty")
                images[name] = dataclasses.replace(image, **{field: value or None})
            elif field == "tags" and not sub:
                tags = tuple(t.strip() for t in value.split(",") if t.strip())
                for tag in tags:
                    problem = validate_tag(tag)
                    if problem:
                        raise UsageError(f"--set {item!r}: {problem}")
                if not tags:
                    raise UsageError(f"--set {item!r}: give at least one tag (comma-separated)")
                images[name] = dataclasses.replace(image, tags=tags)
            elif field == "pull" and not sub:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise UsageError(f"--set {item!r}: pull takes true or false")
                images[name] = dataclasses.replace(image, pull=value.lower() in ("true", "1"))
            else:
                raise UsageError(f"--set {item!r}: '{key}' cannot be set; use args.NAME, labels.NAME, "
                                 "tags, dockerfile, target, platform or pull")
    if images == dict(manifest.images):
        return manifest
    return dataclasses.replace(manifest, images=images)
