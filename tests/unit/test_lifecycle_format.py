"""docker's human formats, as `images ls` and `images history` print them (no engine)."""
from __future__ import annotations

import pytest

from builder.cli.lifecycle import (created_since, ellipsis, go_json, human_duration, human_size, table,
                                   truncate_id)

SECOND, MINUTE, HOUR = 1, 60, 3600
DAY, WEEK, MONTH, YEAR = 24 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR, 365 * 24 * HOUR


@pytest.mark.parametrize("seconds, expected", [
    # go-units' own table (duration_test.go)
    (0.45, "Less than a second"),
    (1 * SECOND, "1 second"),
    (45 * SECOND, "45 seconds"),
    (59 * SECOND, "59 seconds"),
    (60 * SECOND, "About a minute"),
    (3 * MINUTE, "3 minutes"),
    (35 * MINUTE + 40, "35 minutes"),
    (59 * MINUTE, "59 minutes"),
    (1 * HOUR, "About an hour"),
    (1 * HOUR + 29 * MINUTE, "About an hour"),
    (1 * HOUR + 31 * MINUTE, "2 hours"),
    (3 * HOUR + 29 * MINUTE, "3 hours"),
    (3 * HOUR + 31 * MINUTE, "4 hours"),
    (24 * HOUR, "24 hours"),
    (DAY + 12 * HOUR, "36 hours"),
    (2 * DAY, "2 days"),
    (13 * DAY + 5 * HOUR, "13 days"),
    (2 * WEEK, "2 weeks"),
    (4 * WEEK + 3 * DAY, "4 weeks"),
    (MONTH, "4 weeks"),
    (MONTH + 2 * WEEK, "6 weeks"),
    (2 * MONTH, "2 months"),
    (5 * MONTH + 2 * WEEK, "5 months"),
    (24 * MONTH, "24 months"),
    (24 * MONTH + 2 * WEEK, "2 years"),
    (3 * YEAR + 2 * MONTH, "3 years"),
    (-5, "Less than a second"),      # a clock behind the engine's
])
def test_human_duration_matches_go_units(seconds, expected):
    assert human_duration(seconds) == expected


def test_created_since_says_ago():
    assert created_since(1_000_000, now=1_000_000 + 2 * HOUR) == "2 hours ago"


@pytest.mark.parametrize("size, expected", [
    (0, "0B"),
    (575, "575B"),
    (999, "999B"),
    (1000, "1kB"),
    (1024, "1.02kB"),
    (133_000, "133kB"),
    (1_982_256, "1.98MB"),
    (999_999, "1e+03kB"),            # what docker prints too (%.3g)
    (5_670_000_000, "5.67GB"),
    (1.5e15, "1.5PB"),
])
def test_human_size_is_decimal_with_three_digits(size, expected):
    assert human_size(size) == expected


@pytest.mark.parametrize("image_id, expected", [
    ("sha256:56dde4dc6ed5c3c1c5a6c5923a553c49464b56d1379df839891879a4f9973791", "56dde4dc6ed5"),
    ("56dde4dc6ed5c3c1c5a6c5923a553c49", "56dde4dc6ed5"),
    ("<missing>", "<missing>"),
])
def test_truncate_id(image_id, expected):
    assert truncate_id(image_id) == expected


@pytest.mark.parametrize("text, width, expected", [
    ("/bin/sh -c #(nop)  LABEL org.opencontainers.image.vendor=x", 45,
     "/bin/sh -c #(nop)  LABEL org.opencontainers.…"),
    ("short", 45, "short"),
    ("x" * 45, 45, "x" * 45),
    ("x" * 46, 45, "x" * 44 + "…"),
    ("日本語のコマンド", 7, "日本語…"),   # wide characters count two columns
    ("abc", 1, "a"),
    ("abc", 0, ""),
])
def test_ellipsis_like_docker(text, width, expected):
    assert ellipsis(text, width) == expected


def test_table_is_laid_out_like_docker_tabwriter():
    lines = table([["IMAGE", "CREATED", "SIZE", "COMMENT"],
                   ["92d7e3010856", "2 seconds ago", "0B", ""],
                   ["<missing>", "9 minutes ago", "1.98MB", "imported"]])
    assert lines == [
        "IMAGE          CREATED         SIZE      COMMENT",
        "92d7e3010856   2 seconds ago   0B        ",
        "<missing>      9 minutes ago   1.98MB    imported",
    ]


def test_go_json_escapes_like_the_docker_cli():
    text = go_json([{"Labels": {"a": "<b> & c", "d": "é\u2028"}, "Size": 5, "Empty": {}, "List": []}])
    assert text == ('[\n    {\n        "Labels": {\n            "a": "\\u003cb\\u003e \\u0026 c",\n'
                    '            "d": "é\\u2028"\n        },\n        "Size": 5,\n        "Empty": {},\n'
                    '        "List": []\n    }\n]')
    assert go_json([{"a": [1, 2]}], indent=None) == '[{"a":[1,2]}]'
