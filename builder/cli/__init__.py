"""Command line: argument parsing, printing, exit codes. The only place that prints or exits."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from builder import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_ENGINE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

DESCRIPTION = """\
Build every image of a repository from one manifest (images.yaml): base-then-child, in
parallel where the graph allows, skipping every image whose inputs have not changed."""

EPILOG = """\
selectors: an image name, a group name, a glob ('app-*'), or NAME+ (with its descendants);
none means the 'default' group.
exit codes: 0 ok; 1 a build, push or engine operation failed; 2 invalid manifest or usage;
3 no engine reachable; 130 interrupted."""


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("-f", "--file", metavar="PATH", default=default if suppress else "images.yaml",
                        help="the manifest (default: ./images.yaml)")
    parser.add_argument("--var", metavar="NAME=VALUE", action="append", default=default if suppress else [],
                        help="set a manifest variable (wins over the environment and the file)")


PUSH_MODES = ("all", "eager")


class PushAction(argparse.Action):
    """``--push [all|eager]``. Another word after it is a selector, not a bad value:
    ``images build --push app`` builds and pushes ``app`` (argparse alone would read ``app`` as
    the value of ``--push``). ``--push=WORD`` must name a mode (``check_push_values``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values is None or values in PUSH_MODES:
            setattr(namespace, self.dest, values or "all")
            return
        setattr(namespace, self.dest, "all")
        setattr(namespace, "push_selectors", list(getattr(namespace, "push_selectors", None) or []) + [values])


def check_push_values(parser: argparse.ArgumentParser, argv: List[str]) -> None:
    """``--push=WORD`` is a mode, never a selector: an unknown one is a usage error."""
    for item in argv:
        if item == "--":
            return
        if item.startswith("--push=") and item[len("--push="):] not in PUSH_MODES:
            parser.error(f"argument --push: invalid choice: {item[len('--push='):]!r} "
                         f"(choose from {', '.join(repr(m) for m in PUSH_MODES)})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="images", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"images {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _common(p, suppress=True)
        return p

    command("validate", "check the manifest; exit 2 on errors")

    p = command("plan", "build order with each image's action (build / cached / import) and why")
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument("--json", action="store_true", help="versioned JSON on stdout")
    p.add_argument("--no-cache", action="store_true", help="plan as if nothing were cached")
    p.add_argument("--no-registry-cache", action="store_true",
                   help="do not look cache keys up in the registries images are pushed to")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="IMAGE.KEY=VALUE",
                   help="override a setting (globs allowed for IMAGE)")

    p = command("graph", "the dependency graph")
    p.add_argument("--format", choices=["dot", "mermaid", "json"], default="dot")
    p.add_argument("selectors", nargs="*", metavar="SEL")

    command("schema", "print the manifest's JSON Schema")

    p = command("build", "build the selected images (default group) and their parents")
    p.add_argument("selectors", nargs="*", metavar="SEL")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="images built at once (default: two per CPU, 2 to 8)")
    p.add_argument("--keep-going", action="store_true",
                   help="after a failure, still build everything that does not depend on it")
    p.add_argument("--no-cache", action="store_true",
                   help="rebuild without our cache and without the engine's layer cache")
    p.add_argument("--push", nargs="?", const="all", default=None, action=PushAction, metavar="{all,eager}",
                   help="publish every tag to its registry: 'all' (the default) once every image is built "
                        "or cached, and nothing if one failed; 'eager' each image as soon as it is ready")
    p.add_argument("--no-registry-cache", action="store_true",
                   help="do not look cache keys up in the registries images are pushed to")
    p.add_argument("--progress", choices=["auto", "tty", "plain", "quiet", "json"], default="auto")
    p.add_argument("--builder", choices=["auto", "buildkit", "classic"], default="auto",
                   help="the engine's builder: 'auto' (the default) takes BuildKit where the engine has it, "
                        "unless DOCKER_BUILDKIT=0")
    p.add_argument("--report", metavar="FILE", help="write a JSON report (also on failure)")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report, one test case per image (also on "
                                                   "failure)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="IMAGE.KEY=VALUE",
                   help="override a setting (globs allowed for IMAGE), e.g. --set 'app-*.args.X=1'")

    p = command("changed", "the images whose inputs differ between a git revision and the work tree, "
                           "and the images built on them")
    p.add_argument("--since", required=True, metavar="REV", help="the git revision to compare with, e.g. HEAD~1 "
                                                                "or origin/main")
    p.add_argument("--json", action="store_true", help="versioned JSON on stdout")
    p.add_argument("selectors", nargs="*", metavar="SEL", help="only report these images (default: all)")

    p = command("context", "the files the engine would receive for an image, and their total size")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true")

    from builder.cli.lifecycle import add_parsers

    add_parsers(command)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    check_push_values(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if getattr(args, "push_selectors", None):
        args.selectors = list(args.push_selectors) + list(args.selectors or [])
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from builder.errors import ImagesError, ManifestError

    try:
        from builder.cli import commands, lifecycle

        handler = getattr(commands, "cmd_" + args.command, None) or getattr(lifecycle, "cmd_" + args.command)
        return handler(args)
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} in {_display_file(args)}", file=sys.stderr)
        return exc.exit_code
    except ImagesError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("images: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK


def _display_file(args) -> str:
    return getattr(args, "file", "images.yaml")
