"""The image lifecycle in the manifest's names: ls, inspect, history, tag, push, pull, save, load,
import, rm, prune. Imported when the parser is built: keep module-level imports light.

Tables, sizes and ages are printed the way the docker CLI prints them (``docker image ls``,
``docker image history``), so that a user reads them the same way: decimal sizes with three
significant digits (``1.98MB``), ages from docker's ``HumanDuration`` (``About an hour ago``),
12-digit IDs, and columns laid out as Go's ``text/tabwriter`` does for docker's tables.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any, Dict, List, Optional, Sequence

PROGRESS_MODES = ("auto", "tty", "plain", "quiet")


def add_parsers(command) -> None:
    """Add this module's subcommands; ``command(name, help)`` returns a subparser."""
    p = command("ls", "the selected images' tags with ID, age, size and status "
                      "(up to date, stale, missing)")
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument("-a", "--all", action="store_true",
                   help="also older builds that lost their tags (status superseded)")
    p.add_argument("-q", "--quiet", action="store_true", help="only image IDs, once each")

    p = command("inspect", "the engine's JSON for an image (a manifest image name or a reference)")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--format", metavar="TEMPLATE",
                   help="a Go template, as with docker image inspect --format ('{{.Id}}')")

    p = command("history", "the layers of an image, as docker image history shows them")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--no-trunc", action="store_true", help="do not shorten IDs and commands")
    p.add_argument("-q", "--quiet", action="store_true", help="only layer IDs")

    p = command("tag", "add a tag to the image built for NAME (e.g. promote v1.2.3 to latest)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("tag", metavar="TAG", help="a bare tag; the repository is the image's own")

    p = command("push", "push every tag of the selected images to their registry")
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                   help="layer progress on stderr (auto: a live line on a terminal, else plain lines)")

    p = command("pull", "pull the external base images the selected images build on")
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                   help="layer progress on stderr (auto: a live line on a terminal, else plain lines)")

    p = command("save", "write the selected images (and their manifest parents), with all their "
                        "tags, to one tarball")
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the tarball to write")

    p = command("load", "load images from a tarball made by save (or docker save)")
    p.add_argument("-i", "--input", metavar="FILE", required=True, help="the tarball to read")

    p = command("import", "make an image from a filesystem tarball (docker image import)")
    p.add_argument("path", metavar="FILE")
    p.add_argument("reference", metavar="REPOSITORY[:TAG]")
    p.add_argument("-c", "--change", action="append", default=[], metavar="INSTRUCTION",
                   help="a Dockerfile instruction to apply, e.g. 'CMD [\"/bin/sh\"]' (repeatable)")

    p = command("rm", "remove every tag of the selected images (an image goes with its last tag)")
    # -f means --force here, as with docker rmi; the manifest is then given as --file (or as -f
    # before the command).
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument_group(conflict_handler="resolve").add_argument(
                   "-f", "--force", action="store_true",
                   help="remove even when a container uses an image (here -f is --force; give the manifest as --file)")

    p = command("prune", "remove superseded builds of the manifest's images (no current tag "
                         "points to them); all of the project's when no selector is given")
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument("--dry-run", action="store_true", help="only say what would be removed")


# -- docker's formats -----------------------------------------------------------------------

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
#: docker's tables leave out ages before this (2000-01-01), e.g. for layers with no date.
_EPOCH = 946684800


def human_size(size: float) -> str:
    """A size as docker prints it: decimal units, 3 significant digits (go-units'
    ``HumanSizeWithPrecision(size, 3)``): ``1.98MB``, ``575B``, ``0B``."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        i += 1
    return "%.3g%s" % (size, _DECIMAL_UNITS[i])


def human_duration(seconds: float) -> str:
    """go-units' ``HumanDuration``: ``Less than a second``, ``About a minute``, ``3 hours``, ..."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def created_since(created: int, now: Optional[float] = None) -> str:
    """``2 hours ago``, as docker's CREATED column."""
    now = time.time() if now is None else now
    return human_duration(now - created) + " ago"


def truncate_id(image_id: str) -> str:
    """docker's short ID: without the algorithm, 12 characters (``<missing>`` as it is)."""
    if ":" in image_id:
        image_id = image_id.split(":", 1)[1]
    return image_id[:12]


def ellipsis(text: str, width: int) -> str:
    """docker's ``formatter.Ellipsis``: cut ``text`` to ``width`` columns (wide characters count
    two), the last one being ``…``; a width of 1 keeps the first character."""
    from builder.run.progress import fit

    return text[:1] if width == 1 else fit(text, width)


def table(rows: Sequence[Sequence[str]]) -> List[str]:
    """Lines laid out as docker's tables are: Go's ``text/tabwriter`` with a minimum column
    width of 10 and a padding of 3; the last column is not padded."""
    if not rows:
        return []
    columns = max(len(r) for r in rows)
    widths = [10] * columns
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + 3)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return lines


def go_json(value: Any, indent: Optional[int] = 4) -> str:
    """JSON as the docker CLI prints the engine's answers: UTF-8 kept, and ``<``, ``>``, ``&``,
    U+2028 and U+2029 escaped the way Go's encoder escapes them (they occur only in strings)."""
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


# -- transfer progress ----------------------------------------------------------------------

_LAYER_DONE = ("Pushed", "Layer already exists", "Pull complete", "Already exists")


class TransferProgress:
    """Per-layer progress of pushes and pulls on stderr.

    ``plain``: a line as each layer finishes (``[base] layer 8aac5dc84513: Pushed``) and the
    engine's summary lines; ``tty``: one line per transfer, redrawn in place; ``quiet``: nothing.
    """

    def __init__(self, mode: str = "auto", stream: Optional[IO[str]] = None):
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError, OSError):
                tty = False
            mode = "tty" if tty and os.environ.get("TERM") != "dumb" else "plain"
        self.mode = mode
        self.label = ""
        self.verb = ""
        self.layers: Dict[str, Dict[str, Any]] = {}
        self._drawn = 0.0

    def start(self, label: str, verb: str) -> None:
        self.label, self.verb, self.layers, self._drawn = label, verb, {}, 0.0
        if self.mode == "tty":
            self._draw(force=True)

    def __call__(self, message: dict) -> None:
        status = str(message.get("status") or "")
        layer = message.get("id")
        if self.mode == "quiet" or not status:
            return
        if self.mode == "plain":
            if layer and (status in _LAYER_DONE or status.startswith("Mounted from")):
                self._write(f"[{self.label}] layer {layer}: {status}\n")
            elif not layer:
                self._write(f"[{self.label}] {status}\n")
            return
        if layer and status not in ("Waiting",) and not status.startswith("Pulling from"):
            detail = message.get("progressDetail") or {}
            entry = self.layers.setdefault(str(layer), {"status": status, "current": 0, "total": 0})
            entry["status"] = status
            if detail.get("total"):
                entry["current"], entry["total"] = int(detail.get("current") or 0), int(detail["total"])
        self._draw()

    def finish(self, outcome: str) -> None:
        if self.mode == "tty":
            self._draw(force=True, outcome=outcome)
            self._write("\n")

    def _draw(self, force: bool = False, outcome: str = "") -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        done = sum(1 for e in self.layers.values()
                   if e["status"] in _LAYER_DONE or e["status"].startswith("Mounted from"))
        current = sum(e["current"] for e in self.layers.values())
        total = sum(e["total"] for e in self.layers.values())
        text = f"[{self.label}] {self.verb}"
        if self.layers:
            text += f": {done}/{len(self.layers)} layers"
        if total:
            text += f", {human_size(current)}/{human_size(total)}"
        if outcome:
            text += f" ({outcome})"
        self._write("\r\x1b[K" + text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


# -- handlers -------------------------------------------------------------------------------

def _connect():
    from builder.engine import connect

    return connect()


def _image_spec(manifest, name: str):
    from builder.errors import UsageError
    from builder.plan.graph import did_you_mean

    if name not in manifest.images:
        raise UsageError(f"no image named '{name}' in {manifest.display_path}"
                         f"{did_you_mean(name, manifest.images)}")
    return manifest.images[name]


def cmd_ls(args) -> int:
    from builder import refs
    from builder.cli.commands import load_graph, make_plan, out
    from builder.plan.select import resolve
    from builder.run.lifecycle import NONE, SUPERSEDED, ImageRow, find_old_builds, list_rows

    graph = load_graph(args)
    manifest = graph.manifest
    names = resolve(graph, args.selectors)
    engine, state, plan = make_plan(args, graph, required=True)
    rows = list_rows(manifest, names, {s.name: s.cache_key for s in plan.steps}, state)
    if args.all:
        old = find_old_builds(engine.list_images(all=True), manifest,
                              names=names if args.selectors else None)
        builds = list(old.removable) + [build for build, _why in old.kept]
        builds.sort(key=lambda b: -b.created)
        for build in builds:
            if not args.selectors and build.name in manifest.images and build.name not in names:
                continue  # outside the default selection, but still in the manifest
            spec = manifest.images.get(build.name)
            if build.tags:
                for tag in build.tags:
                    repository, tag_name, _digest = refs.split(tag)
                    rows.append(ImageRow(build.name, repository, tag_name or "latest", build.image_id,
                                         build.created, build.size, SUPERSEDED))
            else:
                rows.append(ImageRow(build.name, spec.repository if spec else NONE, NONE,
                                     build.image_id, build.created, build.size, SUPERSEDED))
    if args.quiet:
        seen: List[str] = []
        for row in rows:
            if row.image_id and truncate_id(row.image_id) not in seen:
                seen.append(truncate_id(row.image_id))
        for image_id in seen:
            out(image_id)
        return 0
    now = time.time()
    lines = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "STATUS"]]
    for row in rows:
        if row.image_id is None:
            lines.append([row.repository, row.tag, "", "", "", row.status])
        else:
            lines.append([row.repository, row.tag, truncate_id(row.image_id),
                          created_since(row.created, now), human_size(row.size), row.status])
    for line in table(lines):
        out(line)
    return 0


def cmd_inspect(args) -> int:
    from builder.cli.commands import load, out
    from builder.errors import UsageError
    from builder.run.lifecycle import find_image

    manifest = load(args)
    engine = _connect()
    found = [find_image(engine, manifest, name)[1] for name in args.names]
    if args.format is None or args.format == "":
        out(go_json(found))
        return 0
    if args.format == "json":
        out(go_json(found, indent=None))
        return 0
    import builder.gotemplate as gotemplate

    # The docker CLI executes the template over its typed inspect structure first, and over the
    # raw JSON when that fails; render_image_inspect does the same, render only the second part.
    render = getattr(gotemplate, "render_image_inspect", None) or gotemplate.render
    texts = []
    for info in found:
        try:
            texts.append(render(args.format, info))
        except gotemplate.TemplateError as exc:
            raise UsageError(f"--format {args.format!r}: {exc}") from None
    for text in texts:
        out(text)
    return 0


def cmd_history(args) -> int:
    from builder.cli.commands import load, out
    from builder.run.lifecycle import find_image

    manifest = load(args)
    engine = _connect()
    _reference, info = find_image(engine, manifest, args.name)
    layers = engine.history(str(info["Id"]))
    ids = [str(layer.get("Id") or "") for layer in layers]
    if not args.no_trunc:
        ids = [truncate_id(i) for i in ids]
    if args.quiet:
        for image_id in ids:
            out(image_id)
        return 0
    now = time.time()
    rows = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    for image_id, layer in zip(ids, layers):
        created = int(layer.get("Created") or 0)
        created_by = str(layer.get("CreatedBy") or "").replace("\t", " ")
        rows.append([image_id, created_since(created, now) if created > _EPOCH else "",
                     created_by if args.no_trunc else ellipsis(created_by, 45),
                     human_size(int(layer.get("Size") or 0)), str(layer.get("Comment") or "")])
    for line in table(rows):
        out(line)
    return 0


def cmd_tag(args) -> int:
    from builder.cli.commands import load, out
    from builder.run.lifecycle import add_tag

    manifest = load(args)
    image = _image_spec(manifest, args.name)
    target, image_id = add_tag(_connect(), image, args.tag)
    out(f"{args.name}\ttagged\t{target}\t{truncate_id(image_id)}")
    return 0


def cmd_push(args) -> int:
    from builder.cli.commands import err, load_graph, out
    from builder.errors import EngineError
    from builder.plan.select import resolve
    from builder.run.lifecycle import push_image, require_built

    started = time.monotonic()
    graph = load_graph(args)
    manifest = graph.manifest
    names = resolve(graph, args.selectors)
    engine = _connect()
    require_built(engine, manifest, names)  # nothing is pushed when an image is missing
    progress = TransferProgress(args.progress)
    failed: List[str] = []
    pushed = 0
    for name in names:
        progress.start(name, "pushing")
        try:
            results = push_image(engine, manifest, manifest.images[name], on_progress=progress)
        except EngineError as exc:
            progress.finish("failed")
            err(f"images: {name}: {exc}")
            failed.append(name)
            continue
        progress.finish("done")
        for r in results:
            out(f"{name}\tpushed\t{r.remote}\t{r.digest or ''}")
        pushed += len(results)
    elapsed = time.monotonic() - started
    summary = f"{pushed} tag{'s' if pushed != 1 else ''} pushed"
    if failed:
        summary += f"; {len(failed)} image{'s' if len(failed) != 1 else ''} failed: {', '.join(failed)}"
    err(f"{summary} in {elapsed:.1f}s")
    return 1 if failed else 0


def cmd_pull(args) -> int:
    from builder.cli.commands import err, load_graph, out
    from builder.errors import EngineError
    from builder.plan.select import resolve, with_ancestors
    from builder.run.lifecycle import bases_to_pull

    started = time.monotonic()
    graph = load_graph(args)
    bases = bases_to_pull(graph, with_ancestors(graph, resolve(graph, args.selectors)))
    if not bases:
        err("nothing to pull: the selected images build on no external image")
        return 0
    engine = _connect()
    progress = TransferProgress(args.progress)
    failed: List[str] = []
    for reference in bases:
        progress.start(reference, "pulling")
        try:
            image_id = engine.pull(reference, on_progress=progress)
        except EngineError as exc:
            progress.finish("failed")
            err(f"images: {exc}")
            failed.append(reference)
            continue
        progress.finish("done")
        out(f"{reference}\tpulled\t{truncate_id(image_id)}")
    elapsed = time.monotonic() - started
    ok = len(bases) - len(failed)
    summary = f"{ok} base image{'s' if ok != 1 else ''} pulled"
    if failed:
        summary += f"; {len(failed)} failed"
    err(f"{summary} in {elapsed:.1f}s")
    return 1 if failed else 0


def cmd_save(args) -> int:
    from pathlib import Path

    from builder.cli.commands import err, load_graph, out
    from builder.plan.select import resolve, with_ancestors
    from builder.run.lifecycle import require_built, save_images

    graph = load_graph(args)
    manifest = graph.manifest
    # Manifest parents go in too: their layers are in the tarball anyway, and with their tags
    # a build after `load` finds every image cached.
    names = with_ancestors(graph, resolve(graph, args.selectors))
    engine = _connect()
    references = list(require_built(engine, manifest, names))
    path = Path(args.output)
    size = save_images(engine, references, path)
    for reference in references:
        out(reference)
    err(f"saved {len(names)} image{'s' if len(names) != 1 else ''} ({len(references)} tags) "
        f"to {path} ({human_size(size)})")
    return 0


def cmd_load(args) -> int:
    from builder.cli.commands import out
    from builder.errors import UsageError

    try:
        handle = open(args.input, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {args.input}: {exc.strerror}") from None
    with handle:
        loaded = _connect().load(handle)
    for item in loaded:
        out(f"Loaded image ID: {item}" if item.startswith("sha256:") else f"Loaded image: {item}")
    return 0


def cmd_import(args) -> int:
    from builder import refs
    from builder.cli.commands import out
    from builder.errors import UsageError

    if not os.path.isfile(args.path):
        raise UsageError(f"cannot import {args.path}: no such file")
    problem = refs.validate_reference(args.reference)
    if problem:
        raise UsageError(f"{args.reference}: {problem}")
    repository, tag, digest = refs.split(args.reference)
    if digest is not None:
        raise UsageError(f"{args.reference}: an imported image gets a tag, not a digest")
    image_id = _connect().import_image(os.path.abspath(args.path), repository, tag or "latest",
                                       changes=list(args.change))
    out(image_id)
    return 0


def cmd_rm(args) -> int:
    from builder.cli.commands import err, load_graph, out
    from builder.plan.select import resolve
    from builder.run.lifecycle import remove_images

    graph = load_graph(args)
    names = resolve(graph, args.selectors)
    found, records = remove_images(_connect(), graph.manifest, names, force=args.force)
    if not found:
        err("nothing to remove: the selected images have no tags here")
        return 0
    for record in records:
        for key, value in record.items():
            out(f"{key}: {value}")
    return 0


def cmd_prune(args) -> int:
    from builder.cli.commands import err, load_graph, out
    from builder.plan.select import resolve
    from builder.run.lifecycle import prune

    graph = load_graph(args)
    manifest = graph.manifest
    names = resolve(graph, args.selectors) if args.selectors else None
    result = prune(_connect(), manifest, names=names, dry_run=args.dry_run)
    now = time.time()
    if args.dry_run:
        if result.removed:
            rows = [["IMAGE ID", "NAME", "TAGS", "CREATED", "SIZE"]]
            for build in result.removed:
                rows.append([truncate_id(build.image_id), build.name or "<none>",
                             ", ".join(build.tags) or "<none>", created_since(build.created, now),
                             human_size(build.size)])
            out("Would remove:")
            for line in table(rows):
                out(line)
        else:
            out("Nothing to remove")
    else:
        if result.untagged or result.deleted:
            out("Deleted Images:")
            for reference in result.untagged:
                out(f"untagged: {reference}")
            for image_id in result.deleted:
                out(f"deleted: {image_id}")
            out("")
    for build, why in result.kept:
        err(f"kept {truncate_id(build.image_id)} ({build.name or 'unnamed build'}): {why}")
    if args.dry_run:
        out(f"Total reclaimable space: {human_size(result.reclaimed)} (dry run: nothing was removed)")
    else:
        out(f"Total reclaimed space: {human_size(result.reclaimed)}")
    return 0
