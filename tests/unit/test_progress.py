"""Progress sinks, written to in-memory streams."""
from __future__ import annotations

import io
import json
import re
import threading

import pytest

from builder.run.progress import (Event, JsonProgress, PlainProgress, TtyProgress, clean_line, fit,
                                  format_duration, make_progress)

SGR = re.compile(r"\x1b\[[0-9;]*m")
ANY_ESCAPE = re.compile(r"\x1b")
KEY = "3f2a9c1b0d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4"

BUILD = [
    Event("base", "waiting", text="no earlier build"),
    Event("base", "start", text="no earlier build"),
    Event("base", "step", step=1, steps=2, text="FROM scratch"),
    Event("base", "step", step=2, steps=2, text="Step 2/2 : COPY busybox /bin/"),
    Event("base", "log", text=" ---> 5d0da3dc9764"),
    Event("base", "done", duration_s=4.2),
    Event("app", "cached", text=KEY),
    Event("hello", "cached", text="inputs unchanged (key 3f2a9c1b0d4e)"),
    Event("broken", "start"),
    Event("broken", "failed", text="RUN false: exit code 1\nsee the log", duration_s=1.5),
    Event("child", "skipped", text="parent 'broken' failed"),
    Event("late", "cancelled", text="build stopped after 'broken' failed"),
    Event("", "info", text="1 image failed"),
]

PLAIN = """\
[base] building: no earlier build
[base] Step 1/2 : FROM scratch
[base] Step 2/2 : COPY busybox /bin/
[base]  ---> 5d0da3dc9764
[base] done in 4.2s
[app] cached (key 3f2a9c1b0d4e…)
[hello] cached: inputs unchanged (key 3f2a9c1b0d4e)
[broken] building
[broken] FAILED: RUN false: exit code 1
[broken] see the log
[child] skipped: parent 'broken' failed
[late] cancelled: build stopped after 'broken' failed
1 image failed
"""


def run(mode, events=BUILD, **kwargs):
    stream = io.StringIO()
    with make_progress(mode, stream=stream, **kwargs) as progress:
        for event in events:
            progress(event)
    return stream.getvalue()


@pytest.fixture
def terminal(monkeypatch):
    """An 80x24 terminal as far as the board can tell, colour allowed."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    monkeypatch.delenv("NO_COLOR", raising=False)


def strip_escapes(text):
    return re.sub(r"\r|\x1b\[[0-9;]*[A-Za-z]", "", text)


def final_board(output):
    """What stays on screen: the lines after the last erase."""
    return output.rsplit("\x1b[J", 1)[-1].splitlines()


class TtyStream(io.StringIO):
    def isatty(self):
        return True


class WatchedStream(io.StringIO):
    """Lets a test wait until the background redraw has written something."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern
        self.seen = threading.Event()

    def write(self, text):
        n = super().write(text)
        if self.pattern in self.getvalue():
            self.seen.set()
        return n


def test_plain_lines():
    assert run("plain") == PLAIN


@pytest.mark.parametrize("event, line", [
    (Event("a", "step", step=3, steps=7, text="RUN make"), "[a] Step 3/7 : RUN make"),
    (Event("a", "step", step=3, text="RUN make"), "[a] Step 3 : RUN make"),
    (Event("a", "step", step=2, steps=3, text="#5 [2/3] RUN make"), "[a] #5 [2/3] RUN make"),
    (Event("a", "done", duration_s=75, text="sha256:" + KEY), "[a] done in 1m15s (3f2a9c1b0d4e)"),
    (Event("a", "done"), "[a] done"),
    (Event("a", "cached"), "[a] cached"),
    (Event("a", "failed"), "[a] FAILED"),
    (Event("a", "skipped"), "[a] skipped"),
    (Event("a", "info", text="pulling busybox"), "[a] pulling busybox"),
])
def test_plain_line_for_each_shape(event, line):
    assert run("plain", [event]) == line + "\n"


def test_plain_ignores_waiting_and_empty_logs():
    assert run("plain", [Event("a", "waiting", text="no earlier build"), Event("a", "log")]) == ""


def test_plain_lines_stay_whole_when_written_from_many_threads():
    stream = io.StringIO()
    progress = PlainProgress(stream)

    def emit(i):
        for j in range(200):
            progress(Event(f"img{i}", "log", text=f"line {j} " + "x" * 50))

    threads = [threading.Thread(target=emit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 200
    assert all(re.fullmatch(r"\[img\d\] line \d+ x{50}", line) for line in lines)


def test_quiet_is_silent_when_everything_succeeds():
    assert run("quiet", [e for e in BUILD if e.kind not in ("failed", "info")]) == ""


def test_quiet_shows_failures():
    assert run("quiet") == "[broken] FAILED: RUN false: exit code 1\n[broken] see the log\n"


def test_json_events():
    records = [json.loads(line) for line in run("json").splitlines()]
    assert len(records) == len(BUILD)
    assert all(r["version"] == 1 and isinstance(r["time"], float) for r in records)
    assert [(r["image"], r["event"]) for r in records] == [(e.image, e.kind) for e in BUILD]
    step = records[2]
    assert (step["step"], step["steps"], step["text"]) == (1, 2, "FROM scratch")
    assert records[5]["duration_s"] == 4.2 and "text" not in records[5]
    assert "step" not in records[0]
    assert records[9]["text"] == "RUN false: exit code 1\nsee the log"


def test_tty_final_board(terminal):
    output = run("tty", images=["base", "app", "hello", "broken", "child", "late", "never"], no_color=True)
    board = final_board(output)
    assert board == [
        "base    done       4.2s",
        "app     cached           key 3f2a9c1b0d4e…",
        "hello   cached           inputs unchanged (key 3f2a9c1b0d4e)",
        "broken  failed     1.5s  RUN false: exit code 1",
        "child   skipped          parent 'broken' failed",
        "late    cancelled        build stopped after 'broken' failed",
        "never   waiting",
    ]
    assert not ANY_ESCAPE.search("\n".join(board))


def test_tty_rows_fit_the_terminal_width(terminal, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    output = run("tty", [Event("a-long-image-name", "start"),
                         Event("a-long-image-name", "log", text="\x1b[32mcompiling\x1b[0m " + "y" * 200)],
                 no_color=True)
    (row,) = final_board(output)
    assert re.fullmatch(r"a-long-image-name  building  \d+s  compiling y+…", row)
    assert len(row) == 59


def test_tty_colours_statuses_unless_no_color(terminal, monkeypatch):
    events = [Event("a", "done", duration_s=1.0), Event("b", "failed", text="boom")]
    assert "\x1b[32mdone\x1b[0m" in run("tty", events)
    assert "\x1b[1;31mfailed\x1b[0m" in run("tty", events)
    assert not SGR.search(run("tty", events, no_color=True))
    monkeypatch.setenv("NO_COLOR", "")  # set, even empty, means no colour
    assert not SGR.search(run("tty", events))


def test_tty_live_board_is_redrawn_in_place(terminal):
    stream = WatchedStream("building step 2/5")
    with TtyProgress(stream, images=["a", "b"], colour=False) as progress:
        progress(Event("a", "start"))
        progress(Event("a", "step", step=2, steps=5, text="RUN make"))
        assert stream.seen.wait(5), "the board was never drawn"
        progress(Event("a", "done", duration_s=2.0))
    output = stream.getvalue()
    assert "\x1b[2A" in output  # moved back up over the two rows it drew
    assert final_board(output) == ["a  done     2.0s", "b  waiting"]


def test_tty_board_taller_than_the_terminal_shows_running_images_and_a_summary(terminal, monkeypatch):
    monkeypatch.setenv("LINES", "6")
    names = [f"img{i:02d}" for i in range(20)]
    stream = WatchedStream("12 waiting")
    with TtyProgress(stream, images=names, colour=False) as progress:
        for name in names[:5]:
            progress(Event(name, "done", duration_s=1.0))
        progress(Event("img05", "cached"))
        progress(Event("img06", "start"))
        progress(Event("img07", "step", step=1, steps=3, text="FROM base"))
        assert stream.seen.wait(5), "the board was never drawn"
        live = [strip_escapes(line) for line in stream.getvalue().splitlines()
                if "12 waiting" in line or "building" in line][-3:]
        assert [line.split()[0] for line in live[:2]] == ["img06", "img07"]
        assert live[2] == "2 building, 5 done, 1 cached, 12 waiting"
        for name in names[6:-1]:
            progress(Event(name, "done", duration_s=1.0))
        progress(Event("img19", "failed", text="boom", duration_s=1.0))
    board = final_board(stream.getvalue())
    assert board[-1] == "1 failed, 18 done, 1 cached"
    assert [line.split()[:2] for line in board[:-1]] == [["img19", "failed"]]


def test_tty_info_is_printed_above_the_board(terminal):
    output = run("tty", [Event("a", "start"), Event("", "info", text="pushing to localhost:5000")], no_color=True)
    assert "pushing to localhost:5000\n" in output
    assert final_board(output)[-1].startswith("a  building")


def test_auto_picks_the_board_only_for_a_terminal(terminal):
    for stream, kind in ((io.StringIO(), PlainProgress), (TtyStream(), TtyProgress)):
        progress = make_progress("auto", stream=stream)
        progress.close()
        assert type(progress) is kind
    assert type(make_progress("json", stream=io.StringIO())) is JsonProgress


def test_events_after_close_are_ignored():
    stream = io.StringIO()
    progress = make_progress("plain", stream=stream)
    progress.close()
    progress(Event("a", "done"))
    assert stream.getvalue() == ""


def test_bad_mode_and_kind_are_rejected():
    with pytest.raises(ValueError, match="unknown progress mode 'fancy'"):
        make_progress("fancy", stream=io.StringIO())
    with pytest.raises(ValueError, match="unknown progress event kind 'finished'"):
        Event("a", "finished")


@pytest.mark.parametrize("text, line", [
    ("plain", "plain"),
    ("\x1b[1;32mgreen\x1b[0m text", "green text"),
    ("downloading 10%\rdownloading 100%\r", "downloading 100%"),
    ("first\nsecond\n\n", "second"),
    ("tab\there\x07", "tab here"),
])
def test_clean_line(text, line):
    assert clean_line(text) == line


def test_fit_counts_wide_characters():
    assert fit("abcdef", 4) == "abc…"
    assert fit("日本語です", 6) == "日本…"
    assert fit("short", 10) == "short"


@pytest.mark.parametrize("seconds, text", [(4.24, "4.2s"), (59.9, "59.9s"), (65, "1m05s"), (3725, "1h02m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
