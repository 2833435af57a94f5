#!/usr/bin/env python3
"""Cold build wall time of a wide graph at several --jobs values, to choose the default.

One base image (FROM scratch + the static busybox) and W children, each with a RUN step that
does a little CPU work and a COPY, built with --no-cache so every run does the same work.
Prints wall times; asserts nothing. Needs a Docker engine and a static busybox binary.

    python bench/jobs_bench.py [--width 24] [--jobs 1,2,3,4] [--runs 3]
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

from noop_bench import remove_images  # the same cleanup: by prefix and by project label


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--jobs", default="1,2,3,4")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    busybox = shutil.which("busybox") or "/bin/busybox"
    images = shutil.which("images") or sys.exit("`images` is not installed (pip install -e .)")
    root = Path(tempfile.mkdtemp(prefix="images-jobs-"))
    prefix = f"images-jobs-{os.getpid()}"
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache")}
    try:
        (root / "base").mkdir()
        shutil.copy(busybox, root / "base" / "busybox")
        (root / "base" / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
        lines = ["version: 1", "images:", f"  base: {{context: base, repository: {prefix}/base}}"]
        for i in range(args.width):
            ctx = root / f"c{i:02d}"
            ctx.mkdir()
            (ctx / "data.bin").write_bytes(os.urandom(2 << 20))
            (ctx / "Dockerfile").write_text(
                f"FROM {prefix}/base\nCOPY data.bin /data.bin\n"
                "RUN for i in 1 2 3 4 5 6 7 8; do sha256sum /data.bin; done > /sums\n")
            lines.append(f"  c{i:02d}: {{context: c{i:02d}, repository: {prefix}/c{i:02d}}}")
        (root / "images.yaml").write_text("\n".join(lines) + "\n")
        subprocess.run([images, "build", "base", "--progress", "quiet"], cwd=root, env=env, check=True)
        print(f"wide graph: 1 base + {args.width} children, --no-cache, {os.cpu_count()} CPUs, "
              f"{args.runs} runs each")
        print(f"{'--jobs':>7}{'median s':>10}{'min':>8}{'max':>8}")
        for jobs in [int(j) for j in args.jobs.split(",")]:
            samples = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run([images, "build", "--no-cache", "--jobs", str(jobs), "--progress", "quiet",
                                *[f"c{i:02d}" for i in range(args.width)]], cwd=root, env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                samples.append(time.perf_counter() - start)
            print(f"{jobs:>7}{statistics.median(samples):>10.2f}{min(samples):>8.2f}{max(samples):>8.2f}")
    finally:
        remove_images(root, prefix)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
