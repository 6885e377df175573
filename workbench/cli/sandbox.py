"""`workbench sandbox serve|fault`: the embedded OpenStack cloud on loopback."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.errors import UsageError
from workbench.sandbox.faults import FAULTS

HELP = "run the embedded sandbox cloud (serve) or switch its faults (fault)"


def add_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="serve the sandbox until SIGINT/SIGTERM")
    serve.add_argument("--state-dir", required=True, type=Path, help="where its state lives")
    serve.add_argument("--minions", type=int, default=2, help="minions in the written profile")
    serve.add_argument("--faults", default="", help=f"comma-separated: {', '.join(FAULTS)}")
    serve.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (0: any)")
    serve.add_argument("--subnet", default=None, help="management subnet 127.N.0.0/24")
    serve.add_argument("--delay-scale", type=float, default=1.0, metavar="F",
                       help="multiply every sandbox delay (boot, salt, ...) by F; tests use 0.01")
    fault = sub.add_parser("fault", help="switch a fault in a running sandbox")
    fault.add_argument("name", choices=sorted(FAULTS), metavar="NAME", help=", ".join(FAULTS))
    fault.add_argument("--off", action="store_true", help="switch it off")
    fault.add_argument("--server", default=None, help="only for this server name")
    fault.add_argument("--count", type=int, default=None, help="api-5xx: how many 503s")
    fault.add_argument("--state-dir", required=True, type=Path, help="the running sandbox's dir")


def run(args: argparse.Namespace) -> int:
    if args.action == "serve":
        faults = [f.strip() for f in args.faults.split(",") if f.strip()]
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise UsageError(f"--faults: unknown {', '.join(unknown)}; known: {', '.join(FAULTS)}")
        if not 0 <= args.port <= 65535:
            raise UsageError("--port: a port number from 0 to 65535")
        if args.minions < 0:
            raise UsageError("--minions: a number from 0")
        if args.delay_scale < 0:
            raise UsageError("--delay-scale: a number from 0")
        from workbench.sandbox.core import Delays
        from workbench.sandbox.serve import main

        return main(args.state_dir, minions=args.minions, faults=faults, port=args.port,
                    subnet=args.subnet, delays=Delays().scale(args.delay_scale))
    return _fault(args)


def _fault(args: argparse.Namespace) -> int:
    """Switch a fault, then say exactly what happened (out-of-band-delete deletes at once)."""
    from workbench.sandbox.serve import send_fault

    one_shot_delete = args.name == "out-of-band-delete"
    if one_shot_delete and args.off:
        raise UsageError("out-of-band-delete: an action, not a switch; there is nothing to turn --off")
    if one_shot_delete and not args.server:
        raise UsageError("out-of-band-delete: --server NAME says which server to delete")
    now_on = send_fault(args.state_dir, args.name, on=not args.off, server=args.server,
                        count=args.count)
    if one_shot_delete:
        lines = [f"deleted {args.server} (out of band)"]
        doc = {"deleted": args.server, "faults": now_on}
    else:
        state = "off" if args.off else "on"
        lines = [f"fault {args.name}: {state}" + (f" for {args.server}" if args.server else ""),
                 "faults on: " + (", ".join(now_on) or "none")]
        doc = {"fault": args.name, "on": not args.off, "server": args.server, "faults": now_on}
    if getattr(args, "json", False):
        print(json.dumps(doc))
    else:
        print("\n".join(lines))
    return 0
