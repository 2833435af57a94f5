"""Per-image build logs on disk."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from builder.run import logs
from builder.run.logs import LogStore, default_log_dir


def test_write_then_tail(tmp_path):
    store = LogStore(tmp_path / "logs")
    store.open("base")
    for i in range(5):
        store.write("base", f"line {i}")
    assert store.tail("base", 3) == ["line 2", "line 3", "line 4"]  # readable while still open
    store.close("base")
    assert store.path("base") == tmp_path / "logs" / "base.log"
    assert store.path("base").read_text(encoding="utf-8") == "".join(f"line {i}\n" for i in range(5))


def test_open_starts_the_log_afresh(tmp_path):
    store = LogStore(tmp_path)
    store.open("base")
    store.write("base", "first build")
    store.close("base")
    store.open("base")
    store.write("base", "second build\n")
    store.close("base")
    assert store.tail("base") == ["second build"]


def test_tail_of_a_long_file_reads_from_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "TAIL_BLOCK_SIZE", 64)  # many blocks, lines cut across them
    store = LogStore(tmp_path)
    store.open("big")
    for i in range(5000):
        store.write("big", f"line {i} é" + "x" * (i % 37))
    store.close("big")
    assert store.tail("big", 30) == [f"line {i} é" + "x" * (i % 37) for i in range(4970, 5000)]
    assert store.tail("big", 1) == ["line 4999 é" + "x" * (4999 % 37)]


def test_tail_of_a_short_or_missing_log(tmp_path):
    store = LogStore(tmp_path)
    assert store.tail("never-built") == []
    store.open("small")
    store.write("small", "only line")
    store.close("small")
    assert store.tail("small", 30) == ["only line"]
    assert store.tail("small", 0) == []


def test_tail_keeps_a_last_line_without_newline(tmp_path):
    (tmp_path / "x.log").write_bytes(b"a\nb\nc")
    assert LogStore(tmp_path).tail("x", 2) == ["b", "c"]


def test_concurrent_writes_keep_lines_whole(tmp_path):
    store = LogStore(tmp_path)
    store.open("shared")
    line = "y" * 3000  # larger than a pipe's atomic write, so only the lock keeps it whole

    def writer(i):
        for j in range(100):
            store.write("shared", f"{i}:{j}:{line}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close("shared")
    lines = store.path("shared").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 800
    assert sorted(lines) == sorted(f"{i}:{j}:{line}" for i in range(8) for j in range(100))


def test_write_without_open_appends(tmp_path):
    with LogStore(tmp_path) as store:
        store.write("late", "one")
        store.write("late", "two")
    assert store.tail("late") == ["one", "two"]


@pytest.mark.parametrize("image", ["../escape", "a/b", ".hidden", ""])
def test_odd_image_names_stay_inside_the_directory(tmp_path, image):
    store = LogStore(tmp_path)
    path = store.path(image)
    assert path.parent == tmp_path and path.name.endswith(".log") and not path.name.startswith(".")
    assert store.path(image + "x") != path


def test_default_log_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = default_log_dir(Path("/src/project"))
    assert first.parent == tmp_path / "cache" / "images" / "logs"
    assert len(first.name) == 12
    assert default_log_dir(Path("/src/project")) == first
    assert default_log_dir(Path("/src/other")) != first


def test_default_log_dir_ignores_a_relative_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_log_dir(Path("/src/project")).parent == tmp_path / ".cache" / "images" / "logs"
