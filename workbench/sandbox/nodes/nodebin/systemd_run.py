"""`systemd-run --scope CMD...` on a sandbox node: runs CMD in place (no cgroups here)."""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    args = list(argv)
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-u", "--unit", "-p", "--property", "--slice", "--description") and args:
            args.pop(0)
    if not args:
        print("systemd-run: Command line to execute required.", file=sys.stderr)
        return 1
    try:
        os.execvp(args[0], args)
    except OSError as exc:
        print(f"Failed to find executable {args[0]}: {exc.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
