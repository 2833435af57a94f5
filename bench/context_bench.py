"""Benchmark the build-context code on a generated tree.

    python bench/context_bench.py [--files 50000] [--size-mb 1024] [--ignored 0.1] [--keep DIR]

Generates FILES files of about SIZE_MB in total (nested directories, sizes from a few bytes to a
few megabytes, a share of them under ignored paths), then prints:

* cold hash: ``context_digest`` without a stat cache (every file read and hashed), in MB/s of
  files the engine would receive: once as a first read (which may hit the disk), then the
  median of 3 with the data in the page cache, which measures this code rather than the disk.
* warm re-check: a new ``StatCache.load`` plus ``context_digest`` with nothing changed (median
  of 5), the check a no-op ``images build`` does per context.
* tar stream: ``stream_context_tar(context_entries(...))`` consumed in a child process, with
  its throughput and the child's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.context import (StatCache, context_digest, context_entries,  # noqa: E402
                             stream_context_tar)


def generate(root: Path, files: int, size_mb: int, ignored: float, seed: int = 7) -> None:
    rng = random.Random(seed)
    block = rng.randbytes(4 << 20)
    # Sizes: mostly small files, a few large ones, scaled so the total is about size_mb.
    raw = [rng.lognormvariate(8.5, 1.6) for _ in range(files)]
    scale = (size_mb << 20) / sum(raw)
    sizes = [max(1, min(int(s * scale), len(block) - 64)) for s in raw]
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    (root / ".dockerignore").write_text("# generated\nnode_modules\n**/*.log\n!keep/**/*.log\n/build/\n")
    made_dirs = set()
    for i, size in enumerate(sizes):
        r = rng.random()
        if r < ignored / 2:
            rel = f"node_modules/pkg{i % 300}/lib/f{i}.js"
        elif r < ignored:
            rel = f"src/m{i % 40}/run{i}.log"
        else:
            rel = f"src/m{i % 40}/d{(i // 40) % 25}/f{i}.dat"
        path = root / rel
        parent = path.parent
        if parent not in made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(parent)
        offset = rng.randrange(0, len(block) - size)
        with open(path, "wb") as f:
            f.write(b"%d\n" % i)
            f.write(block[offset:offset + size])


def stream_child(root: str) -> None:
    start = time.perf_counter()
    total = 0
    for chunk in stream_context_tar(context_entries(Path(root))):
        total += len(chunk)
    elapsed = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    with open("/proc/self/status") as f:
        rss_mb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"bytes": total, "seconds": elapsed, "rss_mb": rss_mb}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--ignored", type=float, default=0.1, help="share of files under ignored paths")
    ap.add_argument("--keep", help="generate into (or reuse) this directory instead of a temporary one")
    ap.add_argument("--stream-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stream_child:
        stream_child(args.stream_child)
        return 0

    tmp = None
    if args.keep:
        root = Path(args.keep)
        if not (root / "Dockerfile").exists():
            root.mkdir(parents=True, exist_ok=True)
            generate(root, args.files, args.size_mb, args.ignored)
    else:
        tmp = tempfile.mkdtemp(prefix="context-bench-")
        root = Path(tmp)
        t = time.perf_counter()
        generate(root, args.files, args.size_mb, args.ignored)
        print(f"generated {args.files} files, ~{args.size_mb} MB in {time.perf_counter() - t:.1f} s")
    try:
        entries = context_entries(root)
        sent = sum(e.size for e in entries if e.kind == "file")
        nfiles = sum(1 for e in entries if e.kind == "file")
        print(f"context: {nfiles} files sent ({sent / 1e6:.0f} MB), "
              f"{args.files + 2 - nfiles} left out by .dockerignore")

        # The first read may come from disk (the host reclaims idle page cache); time that once,
        # then the hashing itself with the data in memory, which is what this code controls.
        t = time.perf_counter()
        digest = context_digest(root)
        first = time.perf_counter() - t
        colds = []
        for _ in range(3):
            t = time.perf_counter()
            assert context_digest(root).digest == digest.digest
            colds.append(time.perf_counter() - t)
        cold = statistics.median(colds)
        print(f"cold hash (no stat cache), first read: {first:.2f} s = {sent / first / 1e6:.0f} MB/s")
        print(f"cold hash (no stat cache), data in page cache: median {cold:.2f} s = {sent / cold / 1e6:.0f} MB/s")

        cache_path = Path(tempfile.mkdtemp(prefix="context-bench-cache-")) / "stat.json"
        cache = StatCache()
        context_digest(root, stat_cache=cache)          # fills the cache
        time.sleep(2.1)                                 # let the files age past the racy window
        context_digest(root, stat_cache=cache)
        cache.save(cache_path)
        runs, cpu = [], []
        for _ in range(7):
            t, c = time.perf_counter(), time.process_time()
            warm_cache = StatCache.load(cache_path)
            again = context_digest(root, stat_cache=warm_cache)
            runs.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            assert again.digest == digest.digest
        # CPU time too: on a shared machine the wall clock also counts other processes' turns.
        print(f"warm re-check (load cache + digest, {nfiles} files): median {statistics.median(runs):.3f} s "
              f"(min {min(runs):.3f}, max {max(runs):.3f}; CPU median {statistics.median(cpu):.3f} s)")
        shutil.rmtree(cache_path.parent, ignore_errors=True)

        out = subprocess.run([sys.executable, __file__, "--stream-child", str(root)],
                             check=True, capture_output=True, text=True)
        res = json.loads(out.stdout)
        print(f"tar stream: {res['bytes'] / 1e6:.0f} MB in {res['seconds']:.2f} s = "
              f"{res['bytes'] / res['seconds'] / 1e6:.0f} MB/s, child peak RSS {res['rss_mb']:.0f} MB")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
