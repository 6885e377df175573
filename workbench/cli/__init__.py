"""Command line entry point.

Each verb lives in its own module ``workbench.cli.<module>`` exposing::

    HELP: str | dict[str, str]                 # one line for ``workbench --help`` (per verb)
    def add_arguments(parser, verb) -> None    # the verb's own flags
    def run(args) -> int                       # exit status: 0 ok, 1 failed, 2 usage/profile

Verbs are imported lazily so ``workbench --help`` and the TUI's first frame stay fast.
With no verb, the TUI starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from workbench.errors import WorkbenchError

#: verb -> module under workbench.cli
VERBS: dict[str, str] = {
    "sandbox": "sandbox",
    "up": "cloud",
    "down": "cloud",
    "status": "cloud",
    "doctor": "doctor",
    "salt": "nodes",
    "ssh": "nodes",
    "push": "push",
    "build": "build",
    "info": "build",
    "redeploy": "redeploy",
    "tui": "tui",
}


def _load(verb: str):  # type: ignore[no-untyped-def]
    module = importlib.import_module(f"workbench.cli.{VERBS[verb]}")
    return module


def build_parser(verb: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Build, deploy and fix Kubernetes clusters on OpenStack.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {version()}")
    add_common_arguments(parser)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERBS:
        if verb is not None and name != verb:
            sub.add_parser(name, add_help=False)
            continue
        module = _load(name)
        help_text = module.HELP[name] if isinstance(module.HELP, dict) else module.HELP
        verb_parser = sub.add_parser(name, help=help_text)
        add_common_arguments(verb_parser, suppress=True)
        module.add_arguments(verb_parser, name)
    return parser


def add_common_arguments(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--profile", metavar="PATH", default=default, help="profile TOML file")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
        help="print one JSON document on stdout (progress stays on stderr)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False,
        help="no progress or log lines on stderr",
    )


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("workbench")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in args_list if a in VERBS), None)
    if verb is None:
        verb = "tui"
        if not any(a in ("-h", "--help", "--version") for a in args_list):
            args_list = ["tui", *args_list]
    parser = build_parser(verb if verb != "tui" or "tui" in args_list else None)
    args = parser.parse_args(args_list)
    if args.verb is None:
        parser.print_help()
        return 2
    module = _load(args.verb)
    json_output = bool(getattr(args, "json", False))
    from workbench.cli import render

    render.configure(json_output=json_output, quiet=bool(getattr(args, "quiet", False)))
    try:
        return int(module.run(args))
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        if json_output:
            render.emit_json(render.error_document(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
