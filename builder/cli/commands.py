"""The subcommands. Each takes the parsed arguments and returns an exit code."""
from __future__ import annotations

import dataclasses
import json
import sys
import os
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from builder.errors import EngineUnavailable, ImagesError, UsageError


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str = "") -> None:
    sys.stderr.write(text + "\n")


def _variables(args) -> Dict[str, str]:
    result: Dict[str, str] = {}
    for item in getattr(args, "var", None) or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        result[name] = value
    return result


def load(args):
    from builder.manifest import load_manifest
    from builder.manifest.overrides import apply_overrides

    manifest = load_manifest(getattr(args, "file", "images.yaml"), variables=_variables(args))
    overrides = getattr(args, "overrides", None)
    if overrides:
        manifest = apply_overrides(manifest, overrides)
    return manifest


def load_graph(args):
    from builder.plan.graph import build_graph

    return build_graph(load(args))


def cmd_validate(args) -> int:
    graph = load_graph(args)
    m = graph.manifest
    out(f"{m.display_path}: ok ({len(m.images)} images, {graph.graph.number_of_edges()} edges, "
        f"{len(m.groups)} groups)")
    return 0


def cmd_schema(args) -> int:
    from builder.manifest.schema import load_schema

    out(json.dumps(load_schema(), indent=2))
    return 0


# -- engine state -----------------------------------------------------------------------------

class _EngineAnswer:
    """The engine's image list, asked in a background thread (see prefetch_engine_state)."""

    def __init__(self) -> None:
        import threading

        self.done = threading.Event()
        self.value = None
        self.error: Optional[BaseException] = None
        # A daemon thread: an invalid manifest must not wait for the engine before exiting.
        threading.Thread(target=self._run, name="engine-state", daemon=True).start()

    def _run(self) -> None:
        try:
            self.value = _ask_engine()
        except BaseException as exc:  # handed to the main thread as it is
            self.error = exc
        finally:
            self.done.set()

    def result(self):
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


_prefetched: Optional[_EngineAnswer] = None


def prefetch_engine_state() -> None:
    """Start asking the engine now, so its answer overlaps reading the manifest, the Dockerfiles
    and the contexts, which need no engine. The image list is the slowest single answer of a
    no-op run (the engine walks every image it has), and the process would otherwise wait idle."""
    global _prefetched
    _prefetched = _EngineAnswer()


def _ask_engine():
    from builder.engine import connect

    engine = connect()
    return engine, engine.list_images()


def engine_state(required: bool):
    """(engine, EngineState) — or (None, None) with a note when no engine answers and not required."""
    global _prefetched
    from builder.plan.state import EngineState

    answer, _prefetched = _prefetched, None
    try:
        engine, entries = answer.result() if answer is not None else _ask_engine()
    except EngineUnavailable as exc:
        if required:
            raise
        return None, None, f"no engine reachable ({exc}); actions assume nothing is cached"
    return engine, EngineState.from_engine_list(entries, engine.endpoint), ""


def stat_cache_for(manifest):
    from builder.context import StatCache
    from builder.plan.state import cache_home, project_id

    path = cache_home() / "stat" / f"{project_id(manifest.path)}.cache"
    return StatCache.load(path), path


def start_slots(engine, jobs: int) -> Optional[int]:
    """How many builds may be in their start-up at once: one per CPU of a local engine, when
    more builds than that may run (None: no limit, as for an engine elsewhere, whose CPUs are
    not ours to count)."""
    cpus = os.cpu_count() or 1
    if not engine.endpoint.startswith("unix://") or jobs <= cpus:
        return None
    return cpus


def records_for(manifest):
    from builder.plan.state import BuildRecords, cache_home, project_id

    return BuildRecords(cache_home() / "state" / project_id(manifest.path))


class Planned(NamedTuple):
    engine: Any
    state: Any                  # EngineState, or None without an engine
    plan: Any                   # BuildPlan
    registry: Any = None        # RegistryState, when registries were asked
    client: Any = None          # the RegistryClient that asked them


def make_plan(args, graph, *, required: bool, no_cache: bool = False):
    planned = plan_with_registry(args, graph, required=required, no_cache=no_cache)
    return planned.engine, planned.state, planned.plan


def plan_with_registry(args, graph, *, required: bool, no_cache: bool = False,
                       registry_cache: bool = False, lookup_all: bool = False) -> Planned:
    """The plan, and with ``registry_cache`` what the registries hold: the images the engine
    has no build of are looked up by their push references (every image with ``lookup_all``,
    for a push), and the plan is made again when a registry holds a build it would make."""
    from builder.plan.plan import make_plan as plan_images
    from builder.plan.select import resolve, with_ancestors

    names = with_ancestors(graph, resolve(graph, getattr(args, "selectors", []) or []))
    engine, state, note = engine_state(required)
    stat_cache, stat_path = stat_cache_for(graph.manifest)

    def plan_for(registry=None):
        return plan_images(graph, names, state=state, engine_note=note, records=records_for(graph.manifest),
                           stat_cache=stat_cache, no_cache=no_cache, registry=registry)

    plan = plan_for()
    registry = client = None
    if registry_cache and not no_cache:
        from builder.run.remote import found_elsewhere, references_to_ask, registry_state

        wanted = references_to_ask(graph.manifest, plan, everything=lookup_all)
        if wanted:
            client = registry_client(engine)
            registry = registry_state(client, wanted)
            if found_elsewhere(graph.manifest, plan, registry):
                plan = plan_for(registry)
            elif registry.notes:
                plan = dataclasses.replace(plan, registry_notes=registry.notes)
    try:
        stat_cache.save(stat_path)
    except OSError:
        pass  # a read-only cache directory only costs speed
    return Planned(engine, state, plan, registry, client)


def registry_client(engine):
    """A client that reaches registries as the engine does (its insecure registries), or by
    the defaults without an engine."""
    from builder.engine.registry import RegistryClient

    if engine is not None:
        try:
            return engine.registry_client()
        except ImagesError:
            pass
    return RegistryClient()


def cmd_plan(args) -> int:
    prefetch_engine_state()
    graph = load_graph(args)
    plan = plan_with_registry(args, graph, required=False, no_cache=args.no_cache,
                              registry_cache=not getattr(args, "no_registry_cache", False)).plan
    if args.json:
        out(json.dumps(plan.to_json(), indent=2))
        return 0
    if plan.engine_note:
        err(f"note: {plan.engine_note}")
    for note in plan.registry_notes:
        err(f"note: {note}")
    width = max([len(s.name) for s in plan.steps] + [5])
    out(f"{'GEN':<4}{'IMAGE':<{width + 2}}{'ACTION':<8}REASON")
    for s in plan.steps:
        out(f"{s.generation:<4}{s.name:<{width + 2}}{s.action:<8}{s.reason}")
        details = []
        if s.parents:
            details.append("after " + ", ".join(s.parents))
        if s.external_bases:
            details.append("external " + ", ".join(s.external_bases))
        if details:
            out(f"{'':<4}{'':<{width + 2}}{'':<8}({'; '.join(details)})")
    counts: Dict[str, int] = {}
    for s in plan.steps:
        counts[s.action] = counts.get(s.action, 0) + 1
    gens = 1 + max((s.generation for s in plan.steps), default=-1)
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    err(f"{len(plan.steps)} images in {gens} generations: {summary or 'nothing to do'}")
    return 0


# -- graph --------------------------------------------------------------------------------------

def cmd_graph(args) -> int:
    from builder.plan.select import resolve, with_ancestors

    graph = load_graph(args)
    manifest = graph.manifest
    names = set(with_ancestors(graph, resolve(graph, args.selectors))) if args.selectors else set(manifest.images)
    edges = [e for e in graph.edges() if e.parent in names and e.child in names]
    nodes = [manifest.images[n] for n in manifest.images if n in names]
    if args.format == "json":
        out(json.dumps({
            "version": 1,
            "nodes": [{"name": i.name, "repository": i.repository, "tags": list(i.tags),
                       "external_bases": list(graph.external_bases.get(i.name, ()))} for i in nodes],
            "edges": [{"from": e.parent, "to": e.child, "via": e.via} for e in edges],
        }, indent=2))
    elif args.format == "dot":
        out("digraph images {")
        out("  rankdir=LR;")
        out('  node [shape=box, fontname="monospace"];')
        for i in nodes:
            label = f"{i.name}\\n{i.repository}:{','.join(i.tags)}"
            out(f'  "{i.name}" [label="{label}"];')
        for e in edges:
            style = "" if e.via == "FROM" else f' [label="{e.via}", style=dashed]'
            out(f'  "{e.parent}" -> "{e.child}"{style};')
        out("}")
    else:
        ids = {i.name: f"n{k}" for k, i in enumerate(nodes)}
        out("graph LR")
        for i in nodes:
            out(f'  {ids[i.name]}["{i.name}<br/>{i.repository}:{",".join(i.tags)}"]')
        for e in edges:
            arrow = "-->" if e.via == "FROM" else f"-.->|{e.via}|"
            out(f"  {ids[e.parent]} {arrow} {ids[e.child]}")
    return 0


# -- build --------------------------------------------------------------------------------------

def default_jobs() -> int:
    """Two builds per CPU, at least 2 and at most 8.

    Measured on a 2-CPU machine with the engine's BuildKit (bench/jobs_bench.py, 16 independent
    images with a CPU-bound RUN step, medians of 3: --jobs 2 4.59 s, 4 4.25 s, 8 4.08 s; a cold
    200-image tree: 37.9 s, 32.7 s, 32.2 s): BuildKit's steps wait on I/O often enough that a
    second build per CPU fills the gaps, and more gains little. Start-ups beyond one per CPU
    queue at the start gate (``start_slots``) rather than slowing each other. Past 8 the
    engine's storage, not the CPUs, is the limit.
    """
    return max(2, min(2 * (os.cpu_count() or 1), 8))


def cmd_build(args) -> int:
    prefetch_engine_state()
    import signal
    import threading
    import time

    from builder.plan.state import cache_home, project_id
    from builder.run.build import Builder
    from builder.run.logs import LogStore, default_log_dir
    from builder.run.progress import make_progress
    from builder.run.report import build_report, write_json_atomic

    started = time.time()
    graph = load_graph(args)
    manifest = graph.manifest
    push = getattr(args, "push", None)
    jobs = args.jobs or int(os.environ.get("IMAGES_JOBS", "0") or 0) or default_jobs()
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    planned = plan_with_registry(args, graph, required=True, no_cache=args.no_cache,
                                 registry_cache=not getattr(args, "no_registry_cache", False),
                                 lookup_all=bool(push))
    engine, plan = planned.engine, planned.plan
    for note in plan.registry_notes:
        err(f"note: {note}")
    logs = LogStore(default_log_dir(manifest.path))
    stop = threading.Event()
    progress = make_progress(args.progress, sys.stderr, [s.name for s in plan.steps])
    publisher = eager = None
    if push:
        from builder.run.publish import EagerPublishing, Publisher

        publisher = Publisher(manifest, plan, engine, client=planned.client, registry=planned.registry,
                              progress=progress)
        if push == "eager":
            eager = EagerPublishing(publisher, jobs=jobs)
    from builder.run.remote import must_pull

    builder = Builder(manifest, plan, engine, progress=progress, logs=logs, records=records_for(manifest),
                      no_cache=args.no_cache, stop=stop, fetch=must_pull(plan, push=bool(push)),
                      on_image=eager.submit if eager is not None else None,
                      builder=getattr(args, "builder", "auto"), start_slots=start_slots(engine, jobs))
    outcomes: Dict[str, Any] = {}
    interrupted = False
    previous = signal.getsignal(signal.SIGTERM)
    # SIGTERM (CI cancelling a job) stops like Ctrl-C: no new builds, running ones aborted, no tags.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        results = builder.run(jobs=jobs, keep_going=args.keep_going)
        if eager is not None:
            outcomes = eager.wait()
        elif publisher is not None and all(r.status in ("built", "cached") for r in results):
            from builder.run.publish import publish_all

            outcomes = publish_all(publisher, [r.name for r in results], jobs=jobs, stop=stop)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        if eager is not None:
            eager.abandon()
        if publisher is not None:
            outcomes = dict(publisher.outcomes)
        results = builder.partial_results()
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.close()
    failed = [r for r in results if r.status == "failed"]
    push_failed = [o for o in outcomes.values() if not o.ok]
    code = 130 if interrupted else (1 if failed or push_failed else 0)
    entries = [r.to_json() for r in results]
    if push:
        from builder.run.publish import outcomes_json

        for entry in entries:
            entry.update(outcomes_json(outcomes, entry["name"]))
    for entry in entries:
        step = plan.step(entry["name"])
        if step.remote:
            entry["registry"] = {"reference": step.remote, "digest": step.remote_digest}
    if args.report:
        from pathlib import Path

        report = build_report(entries, started=started, finished=time.time(),
                              exit_code=code, manifest=manifest.display_path, jobs=jobs,
                              engine=engine.endpoint)
        write_json_atomic(Path(args.report), report)
    if getattr(args, "junit", None):
        from pathlib import Path

        from builder.run.report import junit_xml, write_text_atomic

        tails = {r.name: logs.tail(r.name, 30) for r in failed}
        write_text_atomic(Path(args.junit), junit_xml([r.to_json() for r in results], started=started,
                                                      finished=time.time(), logs=tails))
    for r in failed:
        err("")
        err(f"--- {r.name} failed: {r.error}")
        tail = logs.tail(r.name, 30)
        for line in tail:
            err(f"  {r.name} | {line}")
        if r.log_path:
            err(f"  full log: {r.log_path}")
    counts: Dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{counts[k]} {k}" for k in ("built", "cached", "failed", "skipped") if counts.get(k))
    elapsed = time.time() - started
    if interrupted:
        err(f"interrupted after {elapsed:.1f}s; images of unfinished builds were not tagged")
        return 130
    for r in results:
        if r.status in ("built", "cached"):
            out(f"{r.name}\t{r.status}\t{(r.image_id or '')[7:19]}\t{' '.join(r.tags)}")
    if push:
        _report_pushes(results, outcomes, eager=eager is not None)
    err(f"{summary or 'nothing to build'} in {elapsed:.1f}s")
    return code


def _report_pushes(results, outcomes, *, eager: bool) -> None:
    """The references published (stdout) and what was not (stderr)."""
    from builder.run.publish import NOT_PUSHED

    for r in results:
        outcome = outcomes.get(r.name)
        for p in outcome.published if outcome else ():
            out(f"{r.name}\t{p.action}\t{p.reference}\t{p.digest or ''}")
    not_ready = [r for r in results if r.status not in ("built", "cached")]
    if not eager and not_ready:
        failed = sum(1 for r in not_ready if r.status == "failed")
        what = f"{failed} image{'s' if failed != 1 else ''} failed" if failed else \
            f"{len(not_ready)} image{'s' if len(not_ready) != 1 else ''} not built"
        err(f"nothing was pushed: {what}")
        return
    broken = [o for o in outcomes.values() if not o.ok and not o.error.startswith(NOT_PUSHED)]
    unreached = [o for o in outcomes.values() if not o.ok and o.error.startswith(NOT_PUSHED)]
    for o in broken + unreached:
        err(f"images: {o.name}: {o.error}")
    counts: Dict[str, int] = {}
    for o in outcomes.values():
        for p in o.published:
            counts[p.action] = counts.get(p.action, 0) + 1
    done = sum(counts.values())
    how = ", ".join(f"{counts[a]} {label}" for a, label in (("pushed", "pushed"), ("tagged", "tagged in the registry"),
                                                            ("present", "already there")) if counts.get(a))
    summary = f"{done} tag{'s' if done != 1 else ''} published" + (f" ({how})" if how else "")
    if broken:
        names = ", ".join(o.name for o in broken)
        err(f"push failed for {len(broken)} image{'s' if len(broken) != 1 else ''} ({names})"
            + (f", {len(unreached)} not pushed after that" if unreached else "")
            + f"; {summary}; the built images are kept locally")
    else:
        err(summary)


# -- changed ------------------------------------------------------------------------------------

def cmd_changed(args) -> int:
    from builder.manifest import load_manifest
    from builder.plan.changed import changed_since
    from builder.plan.graph import build_graph
    from builder.plan.select import resolve

    graph = load_graph(args)
    scope = resolve(graph, args.selectors) if args.selectors else list(graph.manifest.images)
    variables = _variables(args)

    def load_previous(path, git):
        return build_graph(load_manifest(path, variables=variables, git=git))

    stat_cache, stat_path = stat_cache_for(graph.manifest)
    changes = changed_since(graph, args.since, load_previous, stat_cache=stat_cache)
    try:
        stat_cache.save(stat_path)
    except OSError:
        pass
    if args.selectors:
        wanted = set(scope)
        changes = dataclasses.replace(changes, changed=tuple(n for n in changes.changed if n in wanted),
                                      reasons={n: r for n, r in changes.reasons.items() if n in wanted})
    if args.json:
        out(json.dumps(changes.to_json(), indent=2))
    else:
        for name in changes.changed:
            out(name)
    if changes.note:
        err(f"note: {changes.note}")
    if not args.json:
        for name in changes.changed:
            err(f"  {name}: {changes.reasons[name]}")
        for name in changes.removed:
            err(f"  {name}: removed")
    err(f"{len(changes.changed)} of {len(scope)} images changed since {args.since} ({changes.commit[:12]})"
        + (f", {len(changes.removed)} removed" if changes.removed else ""))
    return 0


# -- context ------------------------------------------------------------------------------------

def cmd_context(args) -> int:
    from builder.context import context_entries

    manifest = load(args)
    if args.name not in manifest.images:
        from builder.plan.graph import did_you_mean

        raise UsageError(f"no image named '{args.name}'{did_you_mean(args.name, manifest.images)}")
    image = manifest.images[args.name]
    if image.is_import:
        raise UsageError(f"'{args.name}' is imported from {image.import_path}; it has no build context")
    entries = context_entries(image.context, image.dockerfile)
    total = sum(e.size for e in entries if e.kind == "file")
    files = [e for e in entries if e.kind != "dir"]
    if args.json:
        out(json.dumps({"version": 1, "name": image.name, "context": str(image.context),
                        "dockerfile": image.dockerfile, "files": len(files), "bytes": total,
                        "entries": [{"path": e.relpath, "type": e.kind, "mode": oct(e.mode & 0o7777),
                                     "size": e.size, **({"link": e.link} if e.link else {})}
                                    for e in entries]}, indent=2))
        return 0
    for e in entries:
        suffix = "/" if e.kind == "dir" else (f" -> {e.link}" if e.link else "")
        size = "" if e.kind == "dir" else _human(e.size)
        out(f"{size:>9}  {e.relpath}{suffix}")
    out(f"{len(files)} files, {_human(total)} sent to the engine for {image.name} (from {image.context})")
    return 0


def _human(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"
