#!/usr/bin/env python3
"""`images` side by side with `docker buildx bake` and `docker compose build`, in one run.

    python bench/compare.py [--quick] [--runs 5] [--only a,b,c,d,e,f] [--markdown FILE] [--json FILE]

Each tool builds the same generated trees (bench/gen.py) on the same engine, under its own
repository prefix. Every measure is the median of --runs runs after one warm-up, with the
minimum and maximum; the tools take turns within each round (images, bake, compose, images, ...)
and each ratio is computed round by round, then summarised the same way.

Scenarios (N and sizes shown for the full run; --quick scales them down):
  a  nothing changed, N = 50 and 200
  b  one leaf changed (a new file in one leaf's context before each round), N = 200
  c  one base changed (a level-1 image with the most descendants; all of them rebuild), N = 200
  d  cold build (--no-cache) of a wide DAG (1 root, W children, one grandchild each; RUN steps
     that mostly wait, as downloads do), with --jobs W, against the critical path: the sum of
     the longest chain's build times, measured by building that chain alone
  e  a 1 GB context of 50,000 files: context_digest cold (no stat cache) and warm (stat cache
     loaded, nothing changed), in this process; then `images build` streaming it to the engine,
     with its peak RSS from /usr/bin/time -v
  f  `images --help`, and `images plan` on the 200-image tree (next to `docker buildx bake --print`)

How the peers are run, and why:
  * bake: the generated docker-bake.hcl wires each child to its parent with
    `contexts = { "REPO/parent" = "target:parent" }`, as bake requires. An engine whose built-in
    Dockerfile frontend lacks named contexts (Docker 20.10: BuildKit 0.8) refuses that, and with no
    registry no newer frontend can be pulled, so the runner sets BAKE_CONTEXTS=false and runs bake
    one generation at a time (`bake gen0`, then `bake gen1`, ...): "bake (by generation)". Bake of
    every target together ("bake (all targets)") is timed where it gives the right images (nothing
    changed, a leaf changed): with a changed base it builds the children on the old base, which
    scenario c checks.
  * compose: `docker compose build` with `depends_on`, COMPOSE_BAKE=false (compose versions that
    build through bake do not order builds by depends_on).
  * At most 32 builds at once for both (bake: calls of at most 32 targets, one after the other;
    compose: COMPOSE_PARALLEL_LIMIT=32): with more, Docker 20.10's BuildKit fails builds with
    "failed to receive status: ... no such job" (its solver gives a job 2 s to register).
  * The three tools share the engine's BuildKit cache, which keys a base image by its layers:
    where `images` builds a change first (b, c), the peers building the same change after it
    find some steps cached, which flatters them. Cold builds run with --no-cache for all three.
  * Every tree is checked after its builds: each image's layers must start with its parent's
    layers (so a child was built on the current parent), and the changed file must be in the image.

Needs: a Docker engine, `images` installed, docker buildx and docker compose CLI plugins, a static
busybox, /usr/bin/time. Removes every image it made (by repository prefix, by the label
images.project of each manifest, and by a label it puts on every image) and the BuildKit cache
records it made.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import gen  # noqa: E402

DOCKER = shutil.which("docker") or "docker"
# Docker 20.10's BuildKit (0.8) fails a build whose job is not registered within 2 s of the
# client asking for its status ("failed to receive status: ... no such job"); with a few dozen
# builds started at once that happens. Both peers are therefore held to 32 builds at a time.
BAKE_BATCH = 32
COMPOSE_PARALLEL_LIMIT = "32"
TIME = "/usr/bin/time"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Figures.

@dataclass
class Row:
    scenario: str
    what: str
    samples: List[float]
    unit: str = "s"
    ratio: Optional[List[float]] = None      # round by round: this / the reference
    ratio_of: str = ""
    target: str = ""
    met: Optional[bool] = None
    note: str = ""

    def stats(self, values: Sequence[float]) -> tuple:
        return statistics.median(values), min(values), max(values)


@dataclass
class Report:
    rows: List[Row] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    info: Dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        med, lo, hi = row.stats(row.samples)
        extra = ""
        if row.ratio:
            r = row.stats(row.ratio)
            extra = f"  {row.ratio_of} {r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})"
        met = "" if row.met is None else ("  MET" if row.met else "  MISSED")
        log(f"{row.scenario} | {row.what}: {med:.3f} {row.unit} ({lo:.3f}-{hi:.3f}){extra}{met}")
        return row


def fmt(v: float, unit: str) -> str:
    if unit == "s":
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def markdown(report: Report) -> str:
    out = ["| scenario | measure | unit | median | min | max | ratio (median, min-max) | target | met |",
           "|---|---|---|---:|---:|---:|---|---|---|"]
    for r in sorted(report.rows, key=lambda row: row.scenario[0]):   # a..f; runs happen in another order
        med, lo, hi = r.stats(r.samples)
        ratio = ""
        if r.ratio:
            m, a, b = r.stats(r.ratio)
            ratio = f"{r.ratio_of} **{m:.2f}** ({a:.2f}-{b:.2f})"
        met = "" if r.met is None else ("met" if r.met else "**missed**")
        what = r.what + (f" ({r.note})" if r.note else "")
        out.append(f"| {r.scenario} | {what} | {r.unit} | {fmt(med, r.unit)} | {fmt(lo, r.unit)} | "
                   f"{fmt(hi, r.unit)} | {ratio} | {r.target} | {met} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Running commands.

class Failed(Exception):
    pass


def run(cmd: Sequence[str], cwd: Path, env: Dict[str, str], capture: bool = False) -> tuple:
    """(seconds, stdout) of one command; raises Failed with its stderr if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise Failed(f"{' '.join(cmd)} (in {cwd.name}) exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return elapsed, proc.stdout if capture else ""


def docker_out(*args: str) -> str:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True).stdout


@dataclass
class Tree:
    """One generated tree and how each tool builds it."""

    root: Path
    meta: Dict
    prefix: str
    env: Dict[str, str]
    images_bin: str
    rounds_done: int = 0

    @property
    def names(self) -> List[str]:
        return list(self.meta["images"])

    def repo(self, tool: str) -> str:
        return f"{self.prefix}-{tool}"

    # -- the tools -----------------------------------------------------------------------
    def images_build(self, *extra: str, report: bool = True, env: Optional[Dict[str, str]] = None) -> tuple:
        """(seconds, report dict) of `images build`."""
        path = self.root / "report.json"
        cmd = [self.images_bin, "build", "--progress", "quiet", *(["--report", str(path)] if report else []),
               *extra]
        elapsed, _ = run(cmd, self.root, {**self.env, **(env or {})})
        return elapsed, (json.loads(path.read_text()) if report else {})

    def bake(self, targets: Sequence[str], *extra: str) -> float:
        """One `docker buildx bake` call per BAKE_BATCH targets, one after the other."""
        start = time.perf_counter()
        for i in range(0, len(targets), BAKE_BATCH):
            run([DOCKER, "buildx", "bake", "-f", "docker-bake.hcl", "--progress", "quiet", *extra,
                 *targets[i:i + BAKE_BATCH]], self.root, self.env)
        return time.perf_counter() - start

    def bake_all(self, *extra: str) -> float:
        return self.bake(self.names, *extra)

    def bake_ordered(self, *extra: str) -> float:
        start = time.perf_counter()
        for generation in self.meta["generations"]:
            self.bake(generation, *extra)
        return time.perf_counter() - start

    def compose(self, *extra: str) -> float:
        return run([DOCKER, "compose", "-f", "compose.yaml", "build", "--quiet", *extra], self.root, self.env)[0]

    # -- checks --------------------------------------------------------------------------
    def layers(self, tool: str) -> Dict[str, List[str]]:
        refs = [f"{self.repo(tool)}/{n}:latest" for n in self.names]
        out = subprocess.run([DOCKER, "image", "inspect", "--format", "{{json .RootFS.Layers}}", *refs],
                             capture_output=True, text=True)
        lines = out.stdout.split("\n")
        if out.returncode != 0:
            raise Failed(f"{tool}: images missing after the build: {out.stderr.strip()[:500]}")
        return {n: json.loads(line) for n, line in zip(self.names, lines)}

    def stale(self, tool: str) -> List[str]:
        """Images not built on their parent's current layers."""
        layers = self.layers(tool)
        bad = []
        for name, node in self.meta["images"].items():
            p = node["parent"]
            if p and (len(layers[name]) <= len(layers[p]) or layers[name][:len(layers[p])] != layers[p]):
                bad.append(name)
        return bad

    def verify(self, tool: str) -> None:
        bad = self.stale(tool)
        if bad:
            raise Failed(f"{tool}: {len(bad)} image(s) not built on their parent's current image: "
                         f"{', '.join(bad[:5])}")

    def file_in_image(self, tool: str, image: str, path: str) -> str:
        out = subprocess.run([DOCKER, "run", "--rm", f"{self.repo(tool)}/{image}:latest",
                              "/bin/busybox", "cat", path], capture_output=True, text=True)
        return out.stdout

    def verify_change(self, image: str, path: str, want: str, source: str = "") -> None:
        """``verify`` every tool's tree, and check that its ``image`` holds ``want`` at ``path``
        (the change of the last round; ``source`` names the image the file comes from)."""
        for tool in ("images", "bake", "compose"):
            self.verify(tool)
            got = self.file_in_image(tool, image, path)
            if got != want:
                raise Failed(f"{tool}: {image} holds {got!r}{' from ' + source if source else ''}, "
                             f"expected {want!r}")

    def descendants(self, name: str) -> List[str]:
        out, todo = [], list(self.meta["images"][name]["children"])
        while todo:
            n = todo.pop()
            out.append(n)
            todo += self.meta["images"][n]["children"]
        return out


def remove_images(find: Callable[[], List[str]]) -> None:
    """Remove the images ``find`` lists, again while some remain: an intermediate image of the
    classic builder (``--builder classic``) cannot go before the images built on it."""
    for _ in range(4):
        ids = sorted(set(find()))
        if not ids:
            return
        subprocess.run([DOCKER, "rmi", "-f", *ids], capture_output=True)


def rounds(runs: int, steps: Dict[str, Callable[[], float]],
           before: Optional[Callable[[int], None]] = None) -> Dict[str, List[float]]:
    """Round 0 is a warm-up; each round runs every step once, in order."""
    samples: Dict[str, List[float]] = {k: [] for k in steps}
    for r in range(runs + 1):
        if before:
            before(r)
        for label, step in steps.items():
            t = step()
            if r:
                samples[label].append(t)
    return samples


def ratios(a: List[float], b: List[float]) -> List[float]:
    return [x / y for x, y in zip(a, b)]


# --------------------------------------------------------------------------------------------
# Setup and cleanup.

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="images-compare-"))
        self.run_id = f"ic{os.getpid()}"
        self.label = ("images-bench", self.run_id)
        self.images_bin = shutil.which("images") or sys.exit("`images` is not installed (pip install -e .)")
        self.env = {**os.environ, "NO_COLOR": "1", "XDG_CACHE_HOME": str(self.work / "cache"),
                    "BAKE_CONTEXTS": "false", "COMPOSE_BAKE": "false",
                    "COMPOSE_PARALLEL_LIMIT": COMPOSE_PARALLEL_LIMIT, "DOCKER_CLI_HINTS": "false",
                    "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
        self.env.pop("REPO", None)
        self.trees: List[Tree] = []
        self.cache_before = set(self.buildkit_records())
        self.report = Report()

    @staticmethod
    def buildkit_records() -> List[str]:
        return re.findall(r"^ID:\s+(\S+)", docker_out("buildx", "du", "--verbose"), re.M)

    def tree(self, key: str, **kw) -> Tree:
        prefix = f"{self.run_id}{key}"
        root = self.work / key
        meta = gen.generate(root, prefix=prefix, labels=dict([self.label]), seed=self.args.seed, **kw)
        tree = Tree(root, meta, prefix, self.env, self.images_bin)
        self.trees.append(tree)
        log(f"tree {key}: {len(meta['images'])} images, generations "
            f"{[len(g) for g in meta['generations']]}, width {meta['width']}")
        return tree

    def cold_build(self, tree: Tree, peers: bool = True) -> Dict[str, float]:
        # --no-cache for all three: the engine's BuildKit keys a base image by its layers, not by
        # its labels, so a tool building after another would find every step already cached.
        took = {"images": tree.images_build("--no-cache")[0]}
        tree.verify("images")
        if peers:
            took["bake (by generation)"] = tree.bake_ordered("--no-cache")
            tree.verify("bake")
            took["compose"] = tree.compose("--no-cache")
            tree.verify("compose")
        if peers:
            # One pass with the cache, generation by generation, so that the peers start the
            # measured rounds from the images their cache gives: after a --no-cache build, bake of
            # all targets at once re-exports a parent from older cache records while its children
            # stay on the one just built.
            tree.bake_ordered()
            tree.verify("bake")
            tree.compose()
            tree.verify("compose")
        log(f"cold builds (--no-cache, one run) of {tree.root.name}: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
        self.report.notes.append(f"cold build of {tree.root.name} (--no-cache, one run each): "
                                 + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))
        return took

    def remove_tree_images(self, tree: Tree) -> None:
        from builder.plan.state import project_id

        def ids() -> List[str]:
            found = docker_out("images", "-a", "-q", "--filter",
                               f"label=images.project={project_id(tree.root / 'images.yaml')}").split()
            for tool in ("images", "bake", "compose"):
                found += docker_out("images", "-q", "--filter", f"reference={tree.repo(tool)}/*").split()
            return found

        remove_images(ids)

    def cleanup(self) -> None:
        for tree in self.trees:
            self.remove_tree_images(tree)
        remove_images(lambda: docker_out("images", "-a", "-q", "--filter",
                                         f"label={self.label[0]}={self.label[1]}").split())
        # BuildKit cache: only the records this run made. The engine reads an `id` filter as a
        # regular expression, so one call can name many records; a record another one still uses
        # goes in a later pass.
        for _ in range(4):
            mine = sorted(set(self.buildkit_records()) - self.cache_before)
            if not mine:
                break
            for i in range(0, len(mine), 1000):
                pattern = "|".join(mine[i:i + 1000])
                subprocess.run([DOCKER, "buildx", "prune", "-f", "--filter", f"id=/^({pattern})$/"],
                               capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)

    # ----------------------------------------------------------------------------------------
    # Scenarios.

    def noop(self, tree: Tree) -> None:
        n = len(tree.names)
        s = rounds(self.args.runs, {
            "images": lambda: tree.images_build()[0],
            "bake (all targets)": tree.bake_all,
            "compose": tree.compose,
        })
        sc = f"a. nothing changed, {n} images"
        rep = self.report
        big = n >= 200
        rep.add(Row(sc, "images build", s["images"], target="<= 0.5 s" if big else "",
                    met=statistics.median(s["images"]) <= 0.5 if big else None))
        for peer in ("bake (all targets)", "compose"):
            r = ratios(s[peer], s["images"])
            target, met = "", None
            if big and peer == "bake (all targets)":
                target, met = ">= 20x (images faster)", statistics.median(r) >= 20
            rep.add(Row(sc, peer, s[peer], ratio=r, ratio_of="x images", target=target, met=met))
        for tool in ("images", "bake", "compose"):
            tree.verify(tool)

    def leaf(self, tree: Tree) -> None:
        leaf = tree.meta["leaves"][len(tree.meta["leaves"]) // 2]
        target_file = tree.root / "images" / leaf / "src" / "change.txt"
        overhead: List[float] = []
        one_build: List[float] = []

        def change(r: int) -> None:
            target_file.write_text(f"leaf change {r}\n")

        def images_step() -> float:
            elapsed, rep = tree.images_build()
            built = [i for i in rep["images"] if i["status"] == "built"]
            if [i["name"] for i in built] != [leaf]:
                raise Failed(f"one leaf changed: images built {[i['name'] for i in built]}, expected [{leaf}]")
            overhead.append(elapsed - built[0]["duration_s"])
            one_build.append(built[0]["duration_s"])
            return elapsed

        s = rounds(self.args.runs, {
            "images": images_step,
            "bake (all targets)": tree.bake_all,
            "compose": tree.compose,
        }, before=change)
        overhead, one_build = overhead[1:], one_build[1:]
        sc = f"b. one leaf changed, {len(tree.names)} images"
        rep = self.report
        rep.add(Row(sc, "images build", s["images"]))
        rep.add(Row(sc, "images: the one build (report's duration_s)", one_build))
        rep.add(Row(sc, "images: wall time minus the one build", overhead, target="<= 0.5 s",
                    met=statistics.median(overhead) <= 0.5))
        self.peer_rows(sc, s, ("bake (all targets)", "compose"))
        tree.verify_change(leaf, f"/app/{leaf}/change.txt", f"leaf change {self.args.runs}\n")

    def base(self, tree: Tree) -> None:
        level1 = tree.meta["generations"][1]
        base = max(level1, key=lambda n: (len(tree.descendants(n)), n))
        desc = tree.descendants(base)
        deepest = max(desc, key=lambda n: tree.meta["images"][n]["level"])
        target_file = tree.root / "images" / base / "src" / "change.txt"

        def change(r: int) -> None:
            target_file.write_text(f"base change {r}\n")

        def images_step() -> float:
            elapsed, rep = tree.images_build()
            built = {i["name"] for i in rep["images"] if i["status"] == "built"}
            if built != {base, *desc}:
                raise Failed(f"one base changed: images built {sorted(built)}, expected {sorted({base, *desc})}")
            return elapsed

        s = rounds(self.args.runs, {
            "images": images_step,
            "bake (by generation)": tree.bake_ordered,
            "compose": tree.compose,
        }, before=change)
        sc = f"c. one base changed ({1 + len(desc)} rebuilds), {len(tree.names)} images"
        rep = self.report
        rep.add(Row(sc, "images build", s["images"]))
        self.peer_rows(sc, s, ("bake (by generation)", "compose"))
        tree.verify_change(deepest, f"/app/{base}/change.txt", f"base change {self.args.runs}\n", source=base)
        # What one bake call of every target does with a changed base.
        change(self.args.runs + 1)
        tree.bake([base, *desc])
        layers = tree.layers("bake")
        stale = [n for n in desc if layers[n][:len(layers[base])] != layers[base]]
        self.report.notes.append(
            f"c: after one more change of `{base}`, one `docker buildx bake` call of `{base}` and its "
            f"{len(desc)} descendants (no `contexts` wiring) left {len(stale)} of them built on the previous "
            f"`{base}` (checked by layers): that is why bake is timed one generation at a time here.")
        log(self.report.notes[-1])
        tree.bake_ordered()                              # leave a consistent tree behind

    def peer_rows(self, sc: str, samples: Dict[str, List[float]], peers: Sequence[str],
                  suffix: str = "") -> None:
        """A row per peer, with its time over `images`' round by round."""
        for peer in peers:
            self.report.add(Row(sc, peer + suffix, samples[peer], ratio=ratios(samples[peer], samples["images"]),
                                ratio_of="x images"))

    def dag(self) -> None:
        w = self.args.width
        tree = self.tree("dag", images=1 + 2 * w, depth=3, fanout=[w, 1], files=4, nbytes=4096,
                         sleep_ms=self.args.sleep_ms)
        nodes = tree.meta["images"]
        chains = [[tree.meta["generations"][0][0], mid, nodes[mid]["children"][0]]
                  for mid in tree.meta["generations"][1]]
        chain = max(chains, key=lambda c: sum(nodes[n]["sleep_s"] for n in c))
        self.cold_build(tree)
        cp: List[float] = []

        # The chain alone is an instrument: it keeps its own cache directory, so that its
        # uncontended build times do not enter the durations `images` records and orders the
        # measured runs by.
        chain_cache = {"XDG_CACHE_HOME": str(tree.root / ".chain-cache")}

        def chain_step() -> float:
            elapsed, rep = tree.images_build("--no-cache", "--jobs", "1", *chain, env=chain_cache)
            cp.append(sum(i["duration_s"] for i in rep["images"] if i["name"] in chain))
            return elapsed

        s = rounds(self.args.runs, {
            "chain": chain_step,
            "images": lambda: tree.images_build("--no-cache", "--jobs", str(w))[0],
            "bake (by generation)": lambda: tree.bake_ordered("--no-cache"),
            "compose": lambda: tree.compose("--no-cache"),
        })
        cp = cp[1:]
        sc = f"d. cold DAG: 1 -> {w} -> {w} images, width {w}"
        rep = self.report
        rep.add(Row(sc, f"critical path: {' -> '.join(chain)}, sum of build times alone", cp))
        rep.add(Row(sc, f"images build --no-cache --jobs {w}", s["images"], ratio=ratios(s["images"], cp),
                    ratio_of="x critical path", target="<= 1.15x critical path",
                    met=statistics.median(ratios(s["images"], cp)) <= 1.15))
        # The same chain as a whole command (process start, planning and report included, as in
        # the measured run): the critical path as a user would time it.
        rep.add(Row(sc, f"critical path as a command: images build --no-cache --jobs 1 {' '.join(chain)}",
                    s["chain"]))
        rep.add(Row(sc, f"images build --no-cache --jobs {w}, against the chain as a command", s["images"],
                    ratio=ratios(s["images"], s["chain"]), ratio_of="x the chain's command"))
        self.peer_rows(sc, s, ("bake (by generation)", "compose"), suffix=" --no-cache")
        for tool in ("images", "bake", "compose"):
            tree.verify(tool)
        self.remove_tree_images(tree)

    def big_context(self) -> None:
        import context_bench
        from builder.context import StatCache, context_digest

        files, size_mb = self.args.big_files, self.args.big_mb
        root = self.work / "big"
        ctx = root / "ctx"
        ctx.mkdir(parents=True)
        t = time.perf_counter()
        context_bench.generate(ctx, files, size_mb, 0.1, seed=self.args.seed)
        # The engine receives all of it; the image keeps one small file (no 1 GB layer to store).
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /Dockerfile\n")
        prefix = f"{self.run_id}big"
        (root / "images.yaml").write_text(
            f"version: 1\ndefaults: {{labels: {{{self.label[0]}: {self.label[1]}}}}}\n"
            f"images:\n  big: {{context: ctx, repository: {prefix}-images/big}}\n")
        self.trees.append(Tree(root, {"images": {}}, prefix, self.env, self.images_bin))
        log(f"generated {files} files, ~{size_mb} MB in {time.perf_counter() - t:.0f} s")

        t = time.perf_counter()
        first = context_digest(ctx)
        first_s = time.perf_counter() - t
        sent_mb = first.total_size / 1e6
        cold = []
        for _ in range(self.args.runs):
            t = time.perf_counter()
            assert context_digest(ctx).digest == first.digest
            cold.append(time.perf_counter() - t)
        cache_path = root / "stat.json"
        cache = StatCache()
        context_digest(ctx, stat_cache=cache)
        time.sleep(2.1)                                   # past the stat cache's racy window
        context_digest(ctx, stat_cache=cache)
        cache.save(cache_path)
        warm = []
        for _ in range(self.args.runs + 1):
            t = time.perf_counter()
            again = context_digest(ctx, stat_cache=StatCache.load(cache_path))
            warm.append(time.perf_counter() - t)
            assert again.digest == first.digest
        warm = warm[1:]

        rss, walls = [], []
        for r in range(self.args.runs + 1):
            out = root / "time.txt"
            t = time.perf_counter()
            run([TIME, "-v", "-o", str(out), self.images_bin, "build", "--no-cache", "--progress", "quiet", "big"],
                root, self.env)
            wall = time.perf_counter() - t
            kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.read_text()).group(1))
            if r:
                rss.append(kb / 1024)
                walls.append(wall)
        sc = f"e. context of {files} files, {sent_mb:.0f} MB sent"
        rep = self.report
        rep.add(Row(sc, "hash, cold (no stat cache), first read after writing", [sent_mb / first_s], unit="MB/s",
                    note="one run"))
        rep.add(Row(sc, "hash, cold (no stat cache), data in page cache", [sent_mb / c for c in cold], unit="MB/s",
                    target=">= 300 MB/s", met=statistics.median([sent_mb / c for c in cold]) >= 300))
        rep.add(Row(sc, f"warm re-check (load stat cache + digest, {first.count} files)", warm,
                    target="<= 0.5 s", met=statistics.median(warm) <= 0.5))
        rep.add(Row(sc, "images build --no-cache (plan + stream to the engine)", walls))
        rep.add(Row(sc, "peak RSS of images build", rss, unit="MB", target="< 200 MB",
                    met=statistics.median(rss) < 200))
        self.remove_tree_images(self.trees[-1])
        shutil.rmtree(ctx, ignore_errors=True)

    def cli(self, tree: Tree) -> None:
        s = rounds(self.args.runs, {
            "help": lambda: run([self.images_bin, "--help"], tree.root, self.env)[0],
            "plan": lambda: run([self.images_bin, "plan"], tree.root, self.env)[0],
            "bake": lambda: run([DOCKER, "buildx", "bake", "-f", "docker-bake.hcl", "--print"], tree.root,
                                self.env)[0],
        })
        sc = "f. command line"
        n = len(tree.names)
        self.report.add(Row(sc, "images --help", s["help"], target="< 0.15 s",
                            met=statistics.median(s["help"]) < 0.15))
        big = n >= 200
        self.report.add(Row(sc, f"images plan, {n} images, all cached", s["plan"], target="< 0.5 s" if big else "",
                            met=statistics.median(s["plan"]) < 0.5 if big else None))
        self.report.add(Row(sc, f"docker buildx bake --print, {n} images", s["bake"],
                            ratio=ratios(s["bake"], s["plan"]), ratio_of="x images plan"))


def machine_info() -> Dict[str, str]:
    mem = next((line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal:")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "")
    return {
        "cpus": str(os.cpu_count()),
        "cpu model": cpu,
        "memory": f"{int(mem) / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "engine": docker_out("version", "--format", "{{.Server.Version}}").strip(),
        "storage driver": docker_out("info", "--format", "{{.Driver}}").strip(),
        "buildx": docker_out("buildx", "version").strip(),
        "compose": docker_out("compose", "version").strip(),
        "images": subprocess.run(["images", "--version"], capture_output=True, text=True).stdout.strip(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run of a few minutes")
    ap.add_argument("--runs", type=int,
                    help="measured runs per figure, after a warm-up (default 5; 3 with --quick)")
    ap.add_argument("--only", default="a,b,c,d,e,f", help="scenarios to run (letters)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--markdown", type=Path, help="write the table and the run's facts here")
    ap.add_argument("--json", type=Path, help="write every sample here")
    args = ap.parse_args()
    # A smoke run (--quick) takes 3 runs per figure; the figures worth quoting take 5.
    args.runs = args.runs or (3 if args.quick else 5)
    only = set(args.only.split(","))
    if args.quick:
        args.sizes, args.width, args.sleep_ms, args.big_files, args.big_mb = (8, 20), 3, 400, 2000, 40
    else:
        args.sizes, args.width, args.sleep_ms, args.big_files, args.big_mb = (50, 200), 8, 1500, 50000, 1024
    for tool in (["buildx", "version"], ["compose", "version"]):
        if subprocess.run([DOCKER, *tool], capture_output=True).returncode != 0:
            sys.exit(f"`docker {tool[0]}` is missing: install the docker-buildx and docker-compose CLI plugins")
    if not os.access(TIME, os.X_OK):
        sys.exit(f"{TIME} is missing (Debian package `time`)")
    # Compiled once, as an installed package is: a run then reads bytecode instead of parsing
    # sources again (which it would do on every run where PYTHONDONTWRITEBYTECODE is set).
    import builder

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(builder.__file__).parent)], check=True)

    bench = Bench(args)
    info = machine_info()
    load_start = os.getloadavg()
    started = time.perf_counter()
    log(f"work dir {bench.work}; {info['cpus']} CPUs; load {load_start[0]:.2f}")
    try:
        small, large = args.sizes
        if only & {"a", "b", "c", "f"}:
            t = bench.tree(f"n{large}", images=large)
            bench.cold_build(t, peers=bool(only & {"a", "b", "c"}))
            if "f" in only:
                bench.cli(t)
            if "a" in only:
                bench.noop(t)
            if "b" in only:
                bench.leaf(t)
            if "c" in only:
                bench.base(t)
            bench.remove_tree_images(t)
        if "a" in only:
            t = bench.tree(f"n{small}", images=small)
            bench.cold_build(t)
            bench.noop(t)
            bench.remove_tree_images(t)
        if "d" in only:
            bench.dag()
        if "e" in only:
            bench.big_context()
    except Failed as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        load_end = os.getloadavg()
        total = time.perf_counter() - started
        log("cleaning up")
        bench.cleanup()
    info["load average (1, 5, 15 min) at start"] = ", ".join(f"{x:.2f}" for x in load_start)
    info["load average (1, 5, 15 min) at end"] = ", ".join(f"{x:.2f}" for x in load_end)
    info["duration"] = f"{total / 60:.1f} min"
    cmd = "python bench/compare.py" + (" --quick" if args.quick else "") + \
          (f" --runs {args.runs}" if args.runs != (3 if args.quick else 5) else "") + \
          (f" --only {args.only}" if args.only != "a,b,c,d,e,f" else "")
    table = markdown(bench.report)
    print(table)
    for note in bench.report.notes:
        print("- " + note)
    if args.markdown:
        facts = "\n".join(f"- {k}: {v}" for k, v in info.items())
        notes = "\n".join(f"- {n}" for n in bench.report.notes)
        args.markdown.write_text(f"Command: `{cmd}`\n\n{facts}\n\n{table}\n{notes}\n")
    if args.json:
        args.json.write_text(json.dumps({"version": 1, "info": info, "command": cmd, "notes": bench.report.notes,
                                         "rows": [r.__dict__ for r in bench.report.rows]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
