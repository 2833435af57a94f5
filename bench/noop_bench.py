#!/usr/bin/env python3
"""No-op build and warm re-check timings for `images`.

Generates a manifest of N images (default 200: a few FROM-scratch bases, the rest built on
earlier images, so the graph has depth), builds it once, then times:
  - `images build` when nothing changed (median of --runs runs after a warm-up);
  - `images plan` of one image whose context holds --files files (50,000 by default), warm:
    the stat cache answers without reading any file again.
Prints the figures; asserts nothing. Needs a Docker engine (DOCKER_HOST or the default socket).

    python bench/noop_bench.py [--images 200] [--files 50000] [--runs 7] [--jobs 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(root: Path, n: int, files: int, prefix: str) -> None:
    lines = ["version: 1", "images:"]
    bases = max(1, n // 20)
    for i in range(n):
        name = f"img{i:03d}"
        ctx = root / "ctx" / name
        ctx.mkdir(parents=True)
        (ctx / "app.txt").write_text(f"image {i}\n")
        (ctx / "config.json").write_text('{"n": %d}\n' % i)
        if i < bases:
            (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
        else:
            parent = f"img{i // 2:03d}"              # a binary tree: depth and fan-out
            (ctx / "Dockerfile").write_text(f"FROM {prefix}/{parent}\nCOPY app.txt config.json /{name}/\n")
        lines.append(f"  {name}: {{context: ctx/{name}, repository: {prefix}/{name}}}")
    big = root / "ctx" / "big"
    for d in range(files // 500):
        sub = big / f"d{d:03d}"
        sub.mkdir(parents=True)
        for f in range(500):
            (sub / f"f{f:03d}.txt").write_text(f"{d}-{f}\n")
    (big / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    lines.append(f"  big: {{context: ctx/big, repository: {prefix}/big}}")
    lines += ["groups:", "  default: [" + ", ".join(f"img{i:03d}" for i in range(n)) + "]"]
    (root / "images.yaml").write_text("\n".join(lines) + "\n")


def timed(cmd, cwd, env, runs: int):
    samples = []
    for i in range(runs + 1):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        if i:  # the first run is a warm-up
            samples.append(elapsed)
    return statistics.median(samples), min(samples), max(samples)


def remove_images(root: Path, prefix: str) -> None:
    """Every image the run made: tagged ones by prefix, superseded ones by the project label."""
    from builder.plan.state import project_id

    ids = subprocess.run(["docker", "images", "-a", "-q", "--filter",
                          f"label=images.project={project_id(root / 'images.yaml')}"],
                         capture_output=True, text=True).stdout.split()
    ids += subprocess.run(["docker", "images", "-q", "--filter", f"reference={prefix}/*"],
                          capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rmi", "-f", *sorted(set(ids))], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--files", type=int, default=50000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the generated tree and images")
    args = ap.parse_args()
    images = shutil.which("images") or sys.exit("`images` is not installed (pip install -e .)")
    # Compiled once, as an installed package is: a run then reads bytecode instead of parsing
    # sources again (which it would do on every run where PYTHONDONTWRITEBYTECODE is set).
    import builder

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(builder.__file__).parent)], check=True)
    root = Path(tempfile.mkdtemp(prefix="images-bench-"))
    prefix = f"images-bench-{os.getpid()}"
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "NO_COLOR": "1"}
    try:
        generate(root, args.images, args.files, prefix)
        start = time.perf_counter()
        cold = subprocess.run([images, "build", "--jobs", str(args.jobs), "--progress", "quiet",
                               "default", "big"], cwd=root, env=env, capture_output=True, text=True)
        if cold.returncode != 0:
            raise SystemExit(f"cold build failed:\n{cold.stderr[-3000:]}")
        cold_s = time.perf_counter() - start
        noop = timed([images, "build", "--progress", "quiet"], root, env, args.runs)
        plan = timed([images, "plan"], root, env, args.runs)
        warm = timed([images, "plan", "big"], root, env, args.runs)
        help_ = timed([images, "--help"], root, env, args.runs)
        print(f"images: {args.images} (+1 with {args.files} files), {args.runs} runs after a warm-up, "
              f"{os.cpu_count()} CPUs")
        print(f"{'measure':<46}{'median':>9}{'min':>9}{'max':>9}")
        print(f"{'cold build, --jobs ' + str(args.jobs):<46}{cold_s:>9.2f}")
        for label, (med, lo, hi) in [
            (f"no-op `images build`, {args.images} images", noop),
            (f"`images plan`, {args.images} images", plan),
            (f"warm re-check, {args.files} files (`plan big`)", warm),
            ("`images --help`", help_),
        ]:
            print(f"{label:<46}{med:>9.3f}{lo:>9.3f}{hi:>9.3f}")
    finally:
        if not args.keep:
            remove_images(root, prefix)
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
