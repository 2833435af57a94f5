"""The build context: .dockerignore semantics, the walk, the digest, the stat cache, the tar."""
from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import time
from pathlib import Path

import pytest

from builder import context as ctxmod
from builder.context import (ContextError, IgnoreRules, StatCache, context_digest, context_entries,
                             read_ignore_rules, stream_context_tar)

# (.dockerignore text, path, excluded?) -- checked against moby/patternmatcher's own results.
IGNORE_CASES = [
    ("*.md", "README.md", True),
    ("*.md", "docs/README.md", False),                 # '*' never crosses '/'
    ("**/*.md", "docs/README.md", True),
    ("**/*.md", "README.md", True),                    # '**' matches zero directories too
    ("docs", "docs/a/b.txt", True),                    # a parent directory matches
    ("docs/", "docs/a.txt", True),                     # trailing '/' is cleaned away
    ("/docs", "docs/a.txt", True),                     # leading '/' is dropped
    ("./docs", "docs/a.txt", True),                    # so is './'
    ("docs/*", "docs/a.txt", True),
    ("docs/*", "docs", False),
    ("dir/**", "dir", False),
    ("dir/**", "dir/x/y", True),
    ("foo**", "foobar/baz", True),                     # trailing '**' is a prefix match
    ("**/node_modules", "a/b/node_modules/x.js", True),
    ("**/node_modules", "node_modules", True),
    ("**", "any/thing", True),
    ("a/../b", "b", True),                             # patterns are filepath.Clean-ed
    ("*\n!keep.txt", "keep.txt", False),               # exception after: kept
    ("!keep.txt\n*", "keep.txt", True),                # last match wins
    ("docs\n!docs/README.md", "docs/README.md", False),
    ("docs\n!docs/README.md", "docs/other.md", True),
    ("**/*.log\n!important.log", "important.log", False),
    ("**/*.log\n!important.log", "sub/important.log", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),                             # '?' never matches '/'
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b]c", "axc", True),                           # '^' negates a class
    ("a[^b]c", "abc", False),
    ("a[^b]c", "a/c", True),                           # ... and a negated class does match '/'
    ("a[!b]c", "a!c", True),                           # '!' is not negation: the class is {!, b}
    ("a[!b]c", "abc", True),
    ("a[!b]c", "axc", False),
    ("[[:alpha:]]*", "Abc", True),                     # POSIX classes, as Go's regexp reads them
    ("[[:alpha:]]*", "1bc", False),
    ("\\*.txt", "*.txt", True),                        # '\' escapes
    ("\\*.txt", "a.txt", False),
    ("\\#notcomment", "#notcomment", True),
    ("#comment", "#comment", False),                   # '#' in column 1 is a comment
    (" #x", "#x", True),                               # not in column 1: a pattern
    ("  spaced.txt  ", "spaced.txt", True),            # surrounding whitespace is trimmed
    ("", "anything", False),
    ("\n\n# only comments\n", "x", False),
    (".*", ".env", True),
    (".*", "a/.env", False),
    ("**/.git", "sub/.git/config", True),
    ("*.go|*.md", "a/b.md", True),                     # '|' is not escaped upstream: an alternation
    ("a{2}b*", "aab", True),                           # '{' neither: a repetition
    ("a{2}b", "a{2}b", True),                          # without wildcards the pattern is literal
    ("\\d*", "7z", True),                              # '\d' after escaping is the regexp digit class
    ("\ufeff*.md", "x.md", True),                      # a UTF-8 BOM is dropped
    ("*.md\r\n!x.md\r\n", "x.md", False),              # CRLF line ends
]


@pytest.mark.parametrize("text,path,excluded", IGNORE_CASES,
                         ids=[f"{t!r}-{p}" for t, p, _ in IGNORE_CASES])
def test_dockerignore_semantics(text, path, excluded):
    assert IgnoreRules.parse(text).excluded(path) is excluded


BAD_PATTERNS = [
    ("a\n[\n", "x/.dockerignore:2: syntax error in pattern '['"),
    ("!\n", 'x/.dockerignore:1: illegal exclusion pattern: "!"'),
    ("ok\n  !  \n", 'x/.dockerignore:2: illegal exclusion pattern: "!"'),
    ("foo\\\n", "x/.dockerignore:1: syntax error in pattern 'foo\\\\'"),
    ("a[]b]\n", "x/.dockerignore:1: syntax error in pattern 'a[]b]'"),
    ("[z-a]*\n", "x/.dockerignore:1: syntax error in pattern '[z-a]*': invalid character class range"),
    ("a[[:nope:]]\n", "x/.dockerignore:1: syntax error in pattern 'a[[:nope:]]': invalid character class range"),
    ("*\\8\n", "x/.dockerignore:1: syntax error in pattern '*\\\\8': invalid escape sequence"),
]


@pytest.mark.parametrize("text,message", BAD_PATTERNS, ids=[m for _, m in BAD_PATTERNS])
def test_bad_patterns_name_file_and_line(text, message):
    with pytest.raises(ContextError) as exc:
        IgnoreRules.parse(text, "x/.dockerignore")
    assert exc.value.message.startswith(message)


def test_cleaned_patterns_are_kept_in_order():
    rules = IgnoreRules.parse("/a/\n! ./b\n# c\n\n**/d/**/\n")
    assert rules.patterns == ("a", "!b", "**/d/**")


# --------------------------------------------------------------------------------------------
# The walk

def make(tree: Path, files: dict) -> Path:
    for rel, content in files.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return tree


def sent(tree: Path, dockerfile: str = "Dockerfile") -> list:
    return [(e.relpath, e.kind) for e in context_entries(tree, dockerfile)]


def test_dockerfile_and_dockerignore_are_always_sent(tmp_path):
    make(tmp_path, {"Dockerfile": "FROM x\n", ".dockerignore": "*\n", "a.txt": "a"})
    assert sent(tmp_path) == [(".dockerignore", "file"), ("Dockerfile", "file")]


def test_dockerfile_in_an_excluded_directory_is_sent_alone(tmp_path):
    make(tmp_path, {"docker/Dockerfile.prod": "FROM x\n", "docker/secret": "s", ".dockerignore": "docker\n",
                    "app.py": "print()"})
    assert sent(tmp_path, "docker/Dockerfile.prod") == [
        (".dockerignore", "file"), ("app.py", "file"), ("docker/Dockerfile.prod", "file")]


def test_excluded_directory_without_exceptions_is_pruned(tmp_path):
    make(tmp_path, {"Dockerfile": "", ".dockerignore": ".git\n", ".git/HEAD": "ref", ".git/objects/x": "o"})
    assert sent(tmp_path) == [(".dockerignore", "file"), ("Dockerfile", "file")]


def test_exception_reincludes_a_file_of_an_excluded_directory(tmp_path):
    make(tmp_path, {"Dockerfile": "", ".dockerignore": "logs\n!logs/keep.txt\n",
                    "logs/keep.txt": "k", "logs/other.txt": "o"})
    # The directory itself is not sent; the file is (the engine creates its parent).
    assert sent(tmp_path) == [(".dockerignore", "file"), ("Dockerfile", "file"), ("logs/keep.txt", "file")]


def test_exception_that_does_not_name_the_directory_does_not_reach_into_it(tmp_path):
    # The CLI only enters an excluded directory when an exception *starts with* its path.
    make(tmp_path, {"Dockerfile": "", ".dockerignore": "build\n!**/keep.txt\n",
                    "build/keep.txt": "k", "src/keep.txt": "k"})
    rules = IgnoreRules.parse("build\n!**/keep.txt\n")
    assert rules.excluded("build/keep.txt") is False          # the patterns alone would keep it
    assert sent(tmp_path) == [(".dockerignore", "file"), ("Dockerfile", "file"),
                              ("src", "dir"), ("src/keep.txt", "file")]


def test_symlinks_are_sent_as_links_and_not_followed(tmp_path):
    make(tmp_path, {"Dockerfile": "", "real/f": "x"})
    os.symlink("real", tmp_path / "alias")
    os.symlink("/nonexistent", tmp_path / "dangling")
    entries = {e.relpath: e for e in context_entries(tmp_path)}
    assert entries["alias"].kind == "symlink" and entries["alias"].link == "real"
    assert entries["dangling"].link == "/nonexistent"
    assert "alias/f" not in entries


def test_special_files_are_left_out(tmp_path):
    make(tmp_path, {"Dockerfile": ""})
    os.mkfifo(tmp_path / "pipe")
    assert sent(tmp_path) == [("Dockerfile", "file")]


def test_entries_are_sorted_and_carry_what_the_tar_needs(tmp_path):
    make(tmp_path, {"Dockerfile": "FROM x\n", "b/c.txt": "hello", "a.txt": "", "b/a": None})
    entries = context_entries(tmp_path)
    assert [e.relpath for e in entries] == ["Dockerfile", "a.txt", "b", "b/a", "b/c.txt"]
    c = entries[-1]
    assert (c.kind, c.size, c.abspath) == ("file", 5, str(tmp_path / "b" / "c.txt"))
    assert stat.S_ISREG(c.mode) and c.mtime == int(os.stat(tmp_path / "b" / "c.txt").st_mtime)


def test_dockerfile_outside_the_context_is_refused(tmp_path):
    with pytest.raises(ContextError, match="must be a file within the build context"):
        context_entries(tmp_path, "../Dockerfile")


def test_missing_context_is_an_error(tmp_path):
    with pytest.raises(ContextError, match="cannot read the build context"):
        context_entries(tmp_path / "nope")


def test_bad_dockerignore_names_the_file(tmp_path):
    make(tmp_path, {"Dockerfile": "", ".dockerignore": "ok\n[\n"})
    with pytest.raises(ContextError, match=r"\.dockerignore:2: syntax error in pattern '\['"):
        context_entries(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_directory_is_an_error(tmp_path):
    make(tmp_path, {"Dockerfile": "", "locked/f": "x"})
    (tmp_path / "locked").chmod(0)
    try:
        with pytest.raises(ContextError, match="locked"):
            context_entries(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)


# --------------------------------------------------------------------------------------------
# The digest

@pytest.fixture
def project(tmp_path):
    return make(tmp_path / "ctx", {"Dockerfile": "FROM scratch\nCOPY . /\n", ".dockerignore": "*.log\n",
                                   "app.py": "print('hi')\n", "lib/util.py": "x = 1\n", "debug.log": "noise"})


def test_digest_is_stable_under_touch(project):
    before = context_digest(project)
    later = time.time() + 5000
    for path in project.rglob("*"):
        os.utime(path, (later, later), follow_symlinks=False)
    assert context_digest(project).digest == before.digest


def test_digest_changes_with_content(project):
    before = context_digest(project)
    (project / "lib/util.py").write_text("x = 2\n")
    after = context_digest(project)
    assert after.digest != before.digest
    assert [k for k in after.files if after.files[k] != before.files[k]] == ["lib/util.py"]


def test_digest_changes_with_chmod_x(project):
    before = context_digest(project)
    (project / "app.py").chmod(0o755)
    after = context_digest(project)
    assert after.digest != before.digest
    assert before.files["app.py"].startswith("file 0644 ") and after.files["app.py"].startswith("file 0755 ")


def test_digest_ignores_ignored_files(project):
    before = context_digest(project)
    (project / "debug.log").write_text("more noise")
    (project / "new.log").write_text("x")
    assert context_digest(project).digest == before.digest


def test_digest_sees_added_and_removed_files_and_empty_dirs(project):
    before = context_digest(project)
    (project / "lib/new.py").write_text("")
    added = context_digest(project)
    assert set(added.files) - set(before.files) == {"lib/new.py"}
    (project / "lib/new.py").unlink()
    (project / "empty").mkdir()
    assert context_digest(project).files["empty"] == "dir 0755"


def test_digest_counts_files_and_bytes(project):
    d = context_digest(project)
    assert d.count == 4                                 # Dockerfile, .dockerignore, app.py, lib/util.py
    assert d.total_size == sum((project / p).stat().st_size
                               for p in ("Dockerfile", ".dockerignore", "app.py", "lib/util.py"))
    assert d.files["lib"] == "dir 0755"


def test_digest_of_a_symlink_is_its_target(project):
    os.symlink("app.py", project / "link")
    d1 = context_digest(project)
    assert d1.files["link"] == "symlink 0777 app.py"
    (project / "link").unlink()
    os.symlink("lib/util.py", project / "link")
    assert context_digest(project).digest != d1.digest


def age(tree: Path, seconds: float = 60) -> None:
    """Make every file look modified ``seconds`` ago (outside the stat cache's racy window)."""
    then = time.time() - seconds
    for path in tree.rglob("*"):
        os.utime(path, (then, then), follow_symlinks=False)


def count_reads(monkeypatch) -> list:
    calls: list = []
    real = ctxmod._hash_file

    def counting(path, st):
        calls.append(os.path.basename(path))
        return real(path, st)

    monkeypatch.setattr(ctxmod, "_hash_file", counting)
    return calls


def test_stat_cache_skips_unchanged_files(project, monkeypatch):
    age(project)
    cache = StatCache()
    first = context_digest(project, stat_cache=cache)
    calls = count_reads(monkeypatch)
    again = context_digest(project, stat_cache=cache)
    assert calls == [] and again.digest == first.digest


def test_stat_cache_rereads_a_file_whose_content_changed_behind_an_old_mtime(project, monkeypatch):
    age(project)
    cache = StatCache()
    first = context_digest(project, stat_cache=cache)
    path = project / "app.py"
    st = path.stat()
    path.write_text("print('HI')\n")                    # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))   # and the old mtime, as `cp -p` leaves it
    calls = count_reads(monkeypatch)
    after = context_digest(project, stat_cache=cache)
    assert calls == ["app.py"] and after.digest != first.digest


def test_stat_cache_does_not_remember_files_written_just_now(project, monkeypatch):
    cache = StatCache()
    context_digest(project, stat_cache=cache)           # files were written a moment ago
    calls = count_reads(monkeypatch)
    context_digest(project, stat_cache=cache)
    assert sorted(calls) == [".dockerignore", "Dockerfile", "app.py", "util.py"]


def test_stat_cache_saves_atomically_and_loads(project, tmp_path, monkeypatch):
    age(project)
    cache = StatCache()
    digest = context_digest(project, stat_cache=cache)
    path = tmp_path / "state" / "stat.json"
    cache.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["stat.json"]   # no temporary left behind
    loaded = StatCache.load(path)
    assert len(loaded) == 4
    calls = count_reads(monkeypatch)
    assert context_digest(project, stat_cache=loaded).digest == digest.digest and calls == []


def test_stat_cache_forgets_removed_files(project):
    age(project)
    cache = StatCache()
    context_digest(project, stat_cache=cache)
    (project / "lib/util.py").unlink()
    context_digest(project, stat_cache=cache)
    assert "lib/util.py" not in cache.root(str(project))


@pytest.mark.parametrize("content", [b"", b"not json", b'{"version": 999}', b"[]"])
def test_unusable_stat_cache_file_is_an_empty_cache(tmp_path, content):
    path = tmp_path / "stat.json"
    path.write_bytes(content)
    assert len(StatCache.load(path)) == 0
    assert len(StatCache.load(tmp_path / "missing.json")) == 0


def test_hashing_streams_in_chunks(tmp_path, monkeypatch):
    # A file bigger than the read buffer is hashed piece by piece, never read whole.
    monkeypatch.setattr(ctxmod, "_CHUNK", 4096)
    monkeypatch.setattr(ctxmod._local, "buf", bytearray(4096), raising=False)
    reads = []
    real_readv = os.readv

    def readv(fd, buffers):
        n = real_readv(fd, buffers)
        reads.append(n)
        return n

    monkeypatch.setattr(ctxmod.os, "readv", readv)
    make(tmp_path, {"Dockerfile": "", "big": os.urandom(100_000)})
    import hashlib
    digest = context_digest(tmp_path)
    assert digest.files["big"].endswith(hashlib.sha256((tmp_path / "big").read_bytes()).hexdigest())
    assert max(reads) <= 4096 and len(reads) > 20


# --------------------------------------------------------------------------------------------
# The tar stream

def test_tar_round_trips(tmp_path):
    long_name = "deep/" + "x" * 150 + ".txt"
    make(tmp_path, {"Dockerfile": "FROM scratch\n", "bin/run": "#!/bin/sh\necho\n", "empty": None,
                    long_name: "long", "blob": os.urandom(70_000)})
    (tmp_path / "bin/run").chmod(0o755)
    os.symlink("bin/run", tmp_path / "run")
    entries = context_entries(tmp_path)
    data = b"".join(stream_context_tar(entries, chunk_size=8192))
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == [e.relpath for e in entries]
        for e in entries:
            m = members[e.relpath]
            assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
            assert m.mode == e.mode & 0o7777 and m.mtime == e.mtime
            if e.kind == "file":
                assert m.isreg() and tar.extractfile(m).read() == Path(e.abspath).read_bytes()
            elif e.kind == "dir":
                assert m.isdir()
            else:
                assert m.issym() and m.linkname == "bin/run"
    assert members["bin/run"].mode == 0o755


@pytest.mark.parametrize("first", ["0" * 120 + ".txt", "-\u00e9t\u00e9.txt"])
def test_the_first_header_is_plain_ustar_so_buildkit_takes_the_body_for_a_tar(tmp_path, first):
    # BuildKit reads one header from the body's first 1,024 bytes to tell a tar from a Dockerfile;
    # a PAX extension in front (a long or non-ASCII name) would push it out of reach.
    make(tmp_path, {first: "first", "Dockerfile": "FROM scratch\n", "sub/x": "x"})
    entries = context_entries(tmp_path)
    assert entries[0].relpath == first            # sorted first, and it needs a PAX extension
    data = b"".join(stream_context_tar(entries))
    assert data[257:263] == b"ustar\x00" and data[156:157] != b"x"
    with tarfile.open(fileobj=io.BytesIO(data[:1024] + bytes(1024))) as tar:
        assert tar.next().name == "Dockerfile"    # a top-level entry with a plain header
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(m.name for m in tar.getmembers()) == sorted(e.relpath for e in entries)


def test_tar_is_produced_incrementally(tmp_path):
    make(tmp_path, {"Dockerfile": "", "big": os.urandom(1 << 20)})
    stream = stream_context_tar(context_entries(tmp_path), chunk_size=16384)
    sizes = [len(next(stream)) for _ in range(5)]      # the first chunks come before the file is read whole
    assert all(s <= 16384 + 1024 for s in sizes)
    rest = sum(len(c) for c in stream)
    assert sum(sizes) + rest >= 1 << 20


def test_tar_refuses_a_file_that_changed_size(tmp_path):
    make(tmp_path, {"Dockerfile": "", "f": "12345"})
    entries = context_entries(tmp_path)
    (tmp_path / "f").write_text("1234567890")
    with pytest.raises(ContextError, match="changed while the context was being sent"):
        b"".join(stream_context_tar(entries))


def test_tar_of_a_non_utf8_name_round_trips(tmp_path):
    make(tmp_path, {"Dockerfile": ""})
    name = os.fsdecode(b"caf\xe9")
    (tmp_path / name).write_text("x")
    data = b"".join(stream_context_tar(context_entries(tmp_path)))
    with tarfile.open(fileobj=io.BytesIO(data), encoding="utf-8", errors="surrogateescape") as tar:
        assert name in tar.getnames()


def test_cli_listing_fields_are_json_friendly(tmp_path):
    make(tmp_path, {"Dockerfile": ""})
    e = context_entries(tmp_path)[0]
    json.dumps({"path": e.relpath, "type": e.kind, "mode": oct(e.mode & 0o7777), "size": e.size})


def reference_walk(root: Path, rules: IgnoreRules) -> list:
    """TarWithOptions, spelled out plainly: match each path with its parent's results, prune
    an excluded directory unless an exception starts with its path."""
    out = []

    def walk(directory: Path, prefix: str, parent_info):
        for name in sorted(os.listdir(directory)):
            rel = prefix + name
            path = directory / name
            skip, info = rules.match_info(rel, parent_info) if rules else (False, None)
            is_dir = path.is_dir() and not path.is_symlink()
            if skip:
                if is_dir and rules.keeps_dir_open(rel):
                    walk(path, rel + "/", info)
                continue
            out.append(rel)
            if is_dir:
                walk(path, rel + "/", info)
    walk(root, "", None)
    return sorted(out)


WALK_RULES = [
    "", "*", "**", "src", "src/**", "**/*.py\n!src/keep.py", "src\n!src/a/b", "*/a\n!*/a/x.txt",
    "**/b\n!src/a/b/c.txt", "src/a\n!src/a/b/c.txt\nsrc/a/b", "a*\n!a", "**/*.txt\n!**/x.txt",
    "[^s]*", "src/?\n!src/a/b", "src/a/b/**\n!src/a/b/c.txt", "docs\n!docs/*.md\ndocs/private.md",
    "*.txt|*.md", "src\\W*", "a[^b]x.txt", "src/*/b\n!src/a/b/*.txt",
]


@pytest.mark.parametrize("text", WALK_RULES)
def test_walk_matches_the_reference_semantics(tmp_path, text):
    make(tmp_path, {"src/a/b/c.txt": "1", "src/a/x.txt": "2", "src/keep.py": "3", "src/other.py": "4",
                    "a.py": "5", "ab/x.txt": "6", "docs/readme.md": "7", "docs/private.md": "8",
                    "docs/img/logo.png": "9", "Dockerfile": "FROM x\n", ".dockerignore": text})
    rules = IgnoreRules.parse(text)
    expected = set(reference_walk(tmp_path, rules)) | {"Dockerfile", ".dockerignore"}
    assert {e.relpath for e in context_entries(tmp_path)} == expected


def test_the_same_dockerignore_text_is_parsed_once_and_errors_name_their_own_file(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / ".dockerignore").write_text("*.log\n!keep.log\n")
    assert read_ignore_rules(tmp_path / "a") is read_ignore_rules(tmp_path / "b")
    assert read_ignore_rules(tmp_path / "a").patterns == ("*.log", "!keep.log")
    for name in ("c", "d"):
        (tmp_path / name).mkdir()
        (tmp_path / name / ".dockerignore").write_text("[\n")
        with pytest.raises(ContextError, match=f"^{tmp_path / name / '.dockerignore'}:1: syntax error"):
            read_ignore_rules(tmp_path / name)
