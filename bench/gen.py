#!/usr/bin/env python3
"""Generate a synthetic monorepo of Dockerfiles, with the same tree described three ways.

    python bench/gen.py OUT [--images 200] [--depth 4] [--fanout 4] [--files 8] [--bytes 16384]
                            [--ignored 0.25] [--sleep-ms 0] [--seed 1] [--prefix bench]
                            [--label KEY=VALUE]

OUT receives:

* ``images/<name>/``: one build context per image: ``Dockerfile``, ``.dockerignore``, FILES files
  of about BYTES bytes in total under ``src/`` that the engine receives, plus a share IGNORED of
  extra files (``*.log`` files and a ``tmp/`` folder) that ``.dockerignore`` leaves out. Root
  images are ``FROM scratch`` plus a copy of the static busybox (no registry needed); every other
  image is ``FROM ${REPO}/<parent>`` and adds a ``RUN`` step (it lists its files and, with
  ``--sleep-ms``, waits about that long, as a download-bound step would).
* ``images.yaml``, ``docker-bake.hcl`` and ``compose.yaml``: the same images, tags, build args
  and labels for ``images build``, ``docker buildx bake`` and ``docker compose build``. Each
  names its repositories ``${REPO}/<name>`` with its own default for ``REPO``
  (``PREFIX-images``, ``PREFIX-bake``, ``PREFIX-compose``), so the three tools never share a tag;
  an environment variable ``REPO`` overrides it in all three.
* ``bench.json``: the tree (each image's level, parent, children and sleep), its generations and
  its width, for the runner.

The shape: ``--depth`` levels; the roots are as few as the fan-out allows; each level's images
are spread round-robin over the previous level's (so parents get children evenly); ``--fanout``
is one number or one per level below the roots (``8,1``: each root gets 8 children, each of those
one). Everything is deterministic for a given seed.

The bake file wires each child to its parent the way bake needs it to (``contexts = {
"REPO/parent" = "target:parent" }``), else bake resolves ``FROM REPO/parent`` from a registry or
from whatever image the engine has under that name instead of the sibling target. Engines whose
built-in Dockerfile frontend predates named contexts (BuildKit before 0.10, e.g. Docker 20.10)
refuse that wiring; ``BAKE_CONTEXTS=false`` turns it off, and the groups ``gen0``, ``gen1``, ...
(one per generation) then give the order, one ``docker buildx bake genN`` after the other.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
from pathlib import Path
from typing import Dict, List, Sequence

DOCKERIGNORE = "# generated: logs and scratch files never reach the engine\ntmp/\n**/*.log\n"


def shape(n: int, fanout: Sequence[int]) -> List[List[int]]:
    """Levels of image indexes and each image's parent index (-1 for a root)."""
    per_root = 1
    width = 1
    for f in fanout:
        width *= f
        per_root += width
    roots = max(1, math.ceil(n / per_root))
    levels = [list(range(min(roots, n)))]
    made = len(levels[0])
    for f in fanout:
        if made >= n:
            break
        prev = levels[-1]
        count = min(n - made, len(prev) * f)
        levels.append(list(range(made, made + count)))
        made += count
    return levels


def build_tree(n: int, fanout: Sequence[int], sleep_ms: int, seed: int) -> Dict:
    levels = shape(n, fanout)
    rng = random.Random(f"{seed}:tree")
    width = len(str(n - 1))
    names = [f"img{i:0{width}d}" for i in range(n)]
    nodes: Dict[str, Dict] = {}
    for level, members in enumerate(levels):
        prev = levels[level - 1] if level else []
        for j, i in enumerate(members):
            parent = names[prev[j % len(prev)]] if prev else None
            sleep = round(sleep_ms * rng.uniform(0.5, 1.5) / 1000, 2) if sleep_ms else 0.0
            nodes[names[i]] = {"level": level, "parent": parent, "children": [], "sleep_s": sleep}
            if parent:
                nodes[parent]["children"].append(names[i])
    generations = [[names[i] for i in members] for members in levels]
    leaves = [name for name, node in nodes.items() if not node["children"]]
    # Width: the largest set of images no two of which are on one chain (a tree's largest
    # antichain), counted bottom-up: a node either stands alone or is replaced by its subtrees.
    best: Dict[str, int] = {}
    for name in reversed(list(nodes)):
        below = sum(best[c] for c in nodes[name]["children"])
        best[name] = max(1, below)
    dag_width = sum(best[g] for g in generations[0])
    return {"images": nodes, "generations": generations, "leaves": leaves, "width": dag_width}


def write_context(ctx: Path, name: str, node: Dict, files: int, nbytes: int, ignored: float,
                  seed: int, busybox: Path) -> None:
    rng = random.Random(f"{seed}:{name}")
    src = ctx / "src"
    src.mkdir(parents=True)
    (ctx / ".dockerignore").write_text(DOCKERIGNORE)
    sizes = [rng.random() + 0.05 for _ in range(files)]
    scale = nbytes / sum(sizes) if sizes else 0
    for k, weight in enumerate(sizes):
        sub = src / f"d{k % 4}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{k:03d}.dat").write_bytes(rng.randbytes(max(1, int(weight * scale))))
    n_ignored = round(files * ignored / (1 - ignored)) if ignored < 1 else files
    for k in range(n_ignored):
        if k % 2:
            path = src / f"d{k % 4}" / f"run{k:03d}.log"
        else:
            path = ctx / "tmp" / f"scratch{k:03d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(rng.randbytes(max(1, nbytes // max(1, files))))
    steps = [f"# generated: {name}, level {node['level']}"]
    if node["parent"] is None:
        shutil.copyfile(busybox, ctx / "busybox")
        (ctx / "busybox").chmod(0o755)
        steps += ["FROM scratch", "COPY busybox /bin/busybox"]
    else:
        steps += ["ARG REPO", f"FROM ${{REPO}}/{node['parent']}"]
    steps.append(f"COPY src/ /app/{name}/")
    script = f"/bin/busybox find /app/{name} -type f | /bin/busybox wc -l > /app/{name}.count"
    if node["sleep_s"]:
        script = f"/bin/busybox sleep {node['sleep_s']} && " + script
    if node["parent"] is not None or node["sleep_s"]:
        steps.append(f'RUN ["/bin/busybox", "sh", "-c", "{script}"]')
    (ctx / "Dockerfile").write_text("\n".join(steps) + "\n")


def _hcl(s: str) -> str:
    return json.dumps(s)


def write_manifests(out: Path, tree: Dict, prefix: str, labels: Dict[str, str]) -> None:
    nodes = tree["images"]
    # images.yaml: dependencies come from the FROM lines; nothing else to say.
    lines = ["# generated by bench/gen.py", "version: 1", "variables:", f"  REPO: {prefix}-images",
             "defaults:", '  args: {REPO: "${REPO}"}']
    if labels:
        lines.append("  labels: {" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}"
                                                for k, v in labels.items()) + "}")
    lines.append("images:")
    for name in nodes:
        lines.append(f'  {name}: {{context: images/{name}, repository: "${{REPO}}/{name}"}}')
    (out / "images.yaml").write_text("\n".join(lines) + "\n")

    hcl = ["# generated by bench/gen.py",
           f'variable "REPO" {{ default = "{prefix}-bake" }}',
           "# false on engines whose built-in Dockerfile frontend has no named contexts (see gen.py)",
           'variable "BAKE_CONTEXTS" { default = "true" }',
           'group "default" { targets = [' + ", ".join(_hcl(n) for n in nodes) + "] }"]
    for g, members in enumerate(tree["generations"]):
        hcl.append(f'group "gen{g}" {{ targets = [' + ", ".join(_hcl(n) for n in members) + "] }")
    hcl += ['target "_common" {', "  args = { REPO = REPO }"]
    if labels:
        hcl.append("  labels = { " + ", ".join(f"{_hcl(k)} = {_hcl(v)}" for k, v in labels.items()) + " }")
    hcl.append("}")
    for name, node in nodes.items():
        hcl += [f'target "{name}" {{', '  inherits = ["_common"]', f'  context = "images/{name}"',
                f'  tags = ["${{REPO}}/{name}:latest"]']
        if node["parent"]:
            p = node["parent"]
            hcl.append(f'  contexts = {{ for k, v in {{ "${{REPO}}/{p}" = "target:{p}" }} : '
                       f'k => v if BAKE_CONTEXTS != "false" }}')
        hcl.append("}")
    (out / "docker-bake.hcl").write_text("\n".join(hcl) + "\n")

    compose = ["# generated by bench/gen.py", f"name: {prefix}", "services:"]
    for name, node in nodes.items():
        compose += [f"  {name}:", f"    image: ${{REPO:-{prefix}-compose}}/{name}:latest", "    build:",
                    f"      context: images/{name}", f'      args: {{REPO: "${{REPO:-{prefix}-compose}}"}}']
        if labels:
            compose.append("      labels: {" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}"
                                                       for k, v in labels.items()) + "}")
        if node["parent"]:
            compose.append(f"    depends_on: [{node['parent']}]")
    (out / "compose.yaml").write_text("\n".join(compose) + "\n")


def generate(out: Path, images: int = 200, depth: int = 4, fanout: Sequence[int] = (4,), files: int = 8,
             nbytes: int = 16384, ignored: float = 0.25, sleep_ms: int = 0, seed: int = 1,
             prefix: str = "bench", labels: Dict[str, str] | None = None,
             busybox: Path = Path("/bin/busybox")) -> Dict:
    """Write the tree into ``out`` (which must not exist or be empty) and return its description."""
    if len(fanout) == 1:
        fanout = list(fanout) * (depth - 1)
    elif len(fanout) != depth - 1:
        raise ValueError(f"--fanout needs 1 or {depth - 1} values for --depth {depth}")
    if not busybox.is_file():
        raise FileNotFoundError(f"a static busybox is needed for the root images: {busybox}")
    tree = build_tree(images, fanout, sleep_ms, seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, node in tree["images"].items():
        write_context(out / "images" / name, name, node, files, nbytes, ignored, seed, busybox)
    write_manifests(out, tree, prefix, labels or {})
    (out / "bench.json").write_text(json.dumps(tree, indent=1) + "\n")
    return tree


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--fanout", default="4", help="children per image: one number, or one per level")
    ap.add_argument("--files", type=int, default=8, help="files per context that the engine receives")
    ap.add_argument("--bytes", type=int, default=16384, help="their total size per context")
    ap.add_argument("--ignored", type=float, default=0.25,
                    help="share of a context's files left out by .dockerignore")
    ap.add_argument("--sleep-ms", type=int, default=0, help="mean wait of each RUN step (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prefix", default="bench", help="repository prefix (lowercase)")
    ap.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                    help="a label on every image (repeatable)")
    ap.add_argument("--busybox", type=Path, default=Path(shutil.which("busybox") or "/bin/busybox"))
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        ap.error(f"{args.out} is not empty")
    labels = dict(item.split("=", 1) for item in args.label)
    tree = generate(args.out, args.images, args.depth, [int(f) for f in args.fanout.split(",")], args.files,
                    args.bytes, args.ignored, args.sleep_ms, args.seed, args.prefix, labels, args.busybox)
    print(f"{len(tree['images'])} images in {len(tree['generations'])} generations "
          f"({', '.join(str(len(g)) for g in tree['generations'])}), width {tree['width']}, "
          f"{len(tree['leaves'])} leaves -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
