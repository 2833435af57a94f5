"""The --report JSON and its atomic write."""
from __future__ import annotations

import json
import os
import stat

import pytest

from builder.run import report as report_module
from builder.run.report import build_report, write_json_atomic

STARTED = 1_700_000_000.0


def test_write_json_atomic_writes_utf8_with_final_newline(tmp_path):
    path = tmp_path / "report.json"
    write_json_atomic(path, {"version": 1, "name": "café"})
    assert path.read_bytes() == '{\n  "version": 1,\n  "name": "café"\n}\n'.encode("utf-8")
    assert os.listdir(tmp_path) == ["report.json"]


def test_write_json_atomic_replaces_an_existing_file(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old and longer than the new content", encoding="utf-8")
    write_json_atomic(path, {"version": 1})
    assert json.loads(path.read_text(encoding="utf-8")) == {"version": 1}
    assert os.listdir(tmp_path) == ["report.json"]


def test_write_json_atomic_gives_a_normal_file_mode(tmp_path):
    path = tmp_path / "report.json"
    old_umask = os.umask(0o022)
    try:
        write_json_atomic(path, {})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_json_atomic_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    path.write_text("{}\n", encoding="utf-8")

    def replace_fails(src, dst):
        raise OSError("disk trouble")

    monkeypatch.setattr(report_module.os, "replace", replace_fails)
    with pytest.raises(OSError, match="disk trouble"):
        write_json_atomic(path, {"version": 1})
    assert os.listdir(tmp_path) == ["report.json"]
    assert path.read_text(encoding="utf-8") == "{}\n"


def test_write_json_atomic_creates_the_directory(tmp_path):
    path = tmp_path / "out" / "report.json"
    write_json_atomic(path, {"version": 1})
    assert json.loads(path.read_text(encoding="utf-8")) == {"version": 1}


def test_build_report():
    results = [
        {"name": "base", "status": "built", "duration_s": 4.21234, "image_id": "sha256:aa",
         "tags": ("acme/base:latest",), "cache_key": "k1", "reason": "no earlier build", "log": "/l/base.log"},
        {"name": "app", "status": "cached", "image_id": "sha256:bb", "tags": ["app:1"], "cache_key": "k2",
         "reason": "inputs unchanged"},
        {"name": "bad", "status": "failed", "duration_s": 1.5, "cache_key": "k3", "error": "RUN false"},
        {"name": "child", "status": "skipped", "reason": "parent 'bad' failed"},
        {"name": "late", "status": "cancelled"},
    ]
    report = build_report(results, started=STARTED, finished=STARTED + 12.3456, exit_code=1, jobs=4)
    assert report == {
        "version": 1,
        "images": [
            {"name": "base", "status": "built", "duration_s": 4.212, "image_id": "sha256:aa",
             "tags": ["acme/base:latest"], "cache_key": "k1", "reason": "no earlier build", "log": "/l/base.log"},
            {"name": "app", "status": "cached", "duration_s": 0.0, "image_id": "sha256:bb", "tags": ["app:1"],
             "cache_key": "k2", "reason": "inputs unchanged"},
            {"name": "bad", "status": "failed", "duration_s": 1.5, "image_id": None, "tags": [], "cache_key": "k3",
             "reason": "", "error": "RUN false"},
            {"name": "child", "status": "skipped", "duration_s": 0.0, "image_id": None, "tags": [],
             "cache_key": None, "reason": "parent 'bad' failed"},
            {"name": "late", "status": "cancelled", "duration_s": 0.0, "image_id": None, "tags": [],
             "cache_key": None, "reason": ""},
        ],
        "summary": {"built": 1, "cached": 1, "failed": 1, "skipped": 1, "cancelled": 1},
        "duration_s": 12.346,
        "exit_code": 1,
        "started_at": "2023-11-14T22:13:20Z",
        "finished_at": "2023-11-14T22:13:32Z",
        "jobs": 4,
    }
    json.dumps(report)  # serialisable as it is


def test_build_report_of_nothing():
    report = build_report([], started=STARTED, finished=STARTED, exit_code=0)
    assert report["images"] == [] and report["exit_code"] == 0
    assert report["summary"] == {"built": 0, "cached": 0, "failed": 0, "skipped": 0, "cancelled": 0}


def test_build_report_rejects_unknown_status_and_reserved_extras():
    with pytest.raises(ValueError, match="image 'a': unknown report status 'done'"):
        build_report([{"name": "a", "status": "done"}], started=STARTED, finished=STARTED, exit_code=0)
    with pytest.raises(ValueError, match="report keys summary are reserved"):
        build_report([], started=STARTED, finished=STARTED, exit_code=0, summary={})
