"""One LABEL instruction appended to the streamed Dockerfile instead of one step per label."""
from __future__ import annotations

import pytest

from builder.dockerfile import parse_dockerfile
from builder.run.labels import with_labels


def test_appends_one_label_line_with_quotes_and_dollars_escaped():
    text = "FROM scratch\nCOPY . /\n"
    out = with_labels(text, {"a": 'say "hi"', "b": "$HOME", "c": "x\\y"}, ("",), None)
    assert out == 'FROM scratch\nCOPY . /\nLABEL "a"="say \\"hi\\"" "b"="\\$HOME" "c"="x\\\\y"\n'
    assert parse_dockerfile(out).steps == parse_dockerfile(text).steps + 1


def test_backtick_escape_directive_is_honoured():
    text = "# escape=`\nFROM scratch\n"
    assert with_labels(text, {"k": 'v"$'}, ("",), None).endswith('LABEL "k"="v`"`$"\n')


@pytest.mark.parametrize("text, labels, stages, target", [
    ("FROM a AS build\nFROM b AS final\n", {"k": "v"}, ("build", "final"), "build"),   # not the last stage
    ("FROM a\n", {"k": "line\nbreak"}, ("",), None),                                    # a line break
    ("FROM a\nRUN echo \\\n", {"k": "v"}, ("",), None),                                 # open continuation
    ("FROM a\nRUN <<EOF\necho\nEOF\n", {"k": "v"}, ("",), None),                        # heredoc
])
def test_unsafe_cases_fall_back_to_the_engine_labels(text, labels, stages, target):
    assert with_labels(text, labels, stages, target) is None


def test_target_that_is_the_last_stage_is_fine():
    text = "FROM a AS build\nFROM b AS Final\n"
    assert with_labels(text, {"k": "v"}, ("build", "final"), "Final").endswith('LABEL "k"="v"\n')
