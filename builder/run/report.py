"""The ``--report`` JSON: what happened to each image, versioned and written atomically."""
from __future__ import annotations

import json
import os
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

REPORT_VERSION = 1
STATUSES = ("built", "cached", "failed", "skipped", "cancelled")
IMAGE_KEYS = ("name", "status", "duration_s", "image_id", "tags", "cache_key", "reason")
_RESERVED = ("version", "images", "summary", "duration_s", "exit_code", "started_at", "finished_at")


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as UTF-8 JSON (indent 2, final newline) so readers never see half a file.

    See ``write_text_atomic`` for how.
    """
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 so readers never see half a file.

    The text goes to a temporary file in the same directory, which then replaces ``path``
    (``os.replace`` is atomic within a file system). The file gets the usual mode for a new
    file (0666 less the umask), not the 0600 of ``tempfile``. Missing parent directories are
    created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def build_report(results: Sequence[Mapping[str, Any]], *, started: float, finished: float, exit_code: int,
                 **extra: Any) -> Dict[str, Any]:
    """The versioned report of a build.

    ``results`` holds one mapping per image with at least ``name`` and ``status`` (one of
    ``STATUSES``); ``duration_s``, ``image_id``, ``tags``, ``cache_key`` and ``reason`` default to
    0 / null / [] / null / "", and any further keys are kept. ``started`` and ``finished`` are
    wall-clock times (``time.time()``). ``extra`` adds top-level keys; it may not replace the
    documented ones.
    """
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"report keys {', '.join(clash)} are reserved")
    images = []
    summary = {status: 0 for status in STATUSES}
    for result in results:
        status = result.get("status")
        if status not in STATUSES:
            raise ValueError(f"image {result.get('name')!r}: unknown report status {status!r}; "
                             f"expected one of {', '.join(STATUSES)}")
        summary[status] += 1
        image = {
            "name": result["name"],
            "status": status,
            "duration_s": round(float(result.get("duration_s") or 0.0), 3),
            "image_id": result.get("image_id"),
            "tags": list(result.get("tags") or ()),
            "cache_key": result.get("cache_key"),
            "reason": result.get("reason") or "",
        }
        image.update((k, v) for k, v in result.items() if k not in IMAGE_KEYS)
        images.append(image)
    report: Dict[str, Any] = {
        "version": REPORT_VERSION,
        "images": images,
        "summary": summary,
        "duration_s": round(max(0.0, finished - started), 3),
        "exit_code": exit_code,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
    }
    report.update(extra)
    return report


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- JUnit XML ---------------------------------------------------------------------------------

# XML 1.0 cannot hold most control characters (build logs carry colour escapes); they are dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", _ANSI.sub("", text))


def junit_xml(results: Sequence[Mapping[str, Any]], *, started: float, finished: float,
              logs: Optional[Mapping[str, Sequence[str]]] = None, suite: str = "images") -> str:
    """A JUnit XML report of a build: one ``<testcase classname="images" name=IMAGE>`` per image.

    ``results`` are the same mappings ``build_report`` takes. A failed image has a ``<failure>``
    whose message is the error and whose text is the last lines of its log (``logs``: name ->
    lines); a skipped one a ``<skipped message=CAUSE>``; a cached one passes, with
    ``<system-out>cached: REASON</system-out>``; a built one passes, with its reason.
    """
    import xml.etree.ElementTree as ET

    logs = logs or {}
    counts = {"failures": 0, "skipped": 0}
    cases = []
    total = 0.0
    for result in results:
        name = str(result["name"])
        status = result.get("status")
        duration = float(result.get("duration_s") or 0.0)
        total += duration
        case = ET.Element("testcase", {"classname": suite, "name": _xml_text(name), "time": f"{duration:.3f}"})
        reason = _xml_text(str(result.get("reason") or ""))
        if status == "failed":
            counts["failures"] += 1
            message = _xml_text(str(result.get("error") or "build failed"))
            failure = ET.SubElement(case, "failure", {"message": message, "type": "BuildFailed"})
            lines = [_xml_text(line) for line in logs.get(name, ())]
            log_path = result.get("log")
            if log_path:
                lines.append(f"full log: {_xml_text(str(log_path))}")
            failure.text = "\n".join(lines) if lines else message
        elif status in ("skipped", "cancelled"):
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", {"message": reason or status})
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"{status}: {reason}" if reason else str(status)
        cases.append(case)
    attributes = {"name": suite, "tests": str(len(cases)), "failures": str(counts["failures"]), "errors": "0",
                  "skipped": str(counts["skipped"]), "time": f"{max(0.0, finished - started):.3f}"}
    root = ET.Element("testsuites", attributes)
    # The JUnit schema's timestamp has no zone; it is UTC.
    suite_element = ET.SubElement(root, "testsuite", {**attributes, "timestamp": _iso(started).rstrip("Z")})
    suite_element.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
