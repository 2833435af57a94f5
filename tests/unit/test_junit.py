"""The --junit report: one test case per image, parsed back with xml.etree."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from builder.run.report import junit_xml, write_text_atomic

RESULTS = [
    {"name": "base", "status": "cached", "duration_s": 0.01, "reason": "inputs unchanged (key 0123456789ab)"},
    {"name": "app", "status": "built", "duration_s": 2.5, "reason": "files changed: app.py"},
    {"name": "broken", "status": "failed", "duration_s": 1.25, "reason": "no earlier build",
     "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3", "log": "logs/broken.log"},
    {"name": "broken-child", "status": "skipped", "duration_s": 0, "reason": "parent 'broken' failed"},
]
LOGS = {"broken": ["Step 3/3 : RUN exit 3", "\x1b[31mabout to fail\x1b[0m <&>", "bell\x07"]}


@pytest.fixture
def suite():
    text = junit_xml(RESULTS, started=1700000000.0, finished=1700000004.5, logs=LOGS)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def test_totals(suite):
    assert suite.tag == "testsuites"
    inner = suite.find("testsuite")
    for element in (suite, inner):
        assert {k: element.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == \
            {"tests": "4", "failures": "1", "errors": "0", "skipped": "1", "time": "4.500"}
    assert inner.get("timestamp") == "2023-11-14T22:13:20"


@pytest.mark.parametrize("name, time, child, attributes, text", [
    ("base", "0.010", "system-out", {}, "cached: inputs unchanged (key 0123456789ab)"),
    ("app", "2.500", "system-out", {}, "built: files changed: app.py"),
    ("broken", "1.250", "failure",
     {"message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3", "type": "BuildFailed"},
     "Step 3/3 : RUN exit 3\nabout to fail <&>\nbell\nfull log: logs/broken.log"),
    ("broken-child", "0.000", "skipped", {"message": "parent 'broken' failed"}, None),
])
def test_one_case_per_image(suite, name, time, child, attributes, text):
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [r["name"] for r in RESULTS]
    case = cases[name]
    assert case.get("classname") == "images" and case.get("time") == time
    assert [c.tag for c in case] == [child]
    assert dict(case[0].attrib) == attributes
    assert case[0].text == text


def test_no_images():
    root = ET.fromstring(junit_xml([], started=0, finished=0))
    assert root.get("tests") == "0" and list(root.find("testsuite")) == []


def test_write_text_atomic(tmp_path):
    target = tmp_path / "reports" / "junit.xml"
    write_text_atomic(target, "one\n")
    write_text_atomic(target, "two\n")
    assert target.read_text() == "two\n"
    assert os.listdir(target.parent) == ["junit.xml"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
