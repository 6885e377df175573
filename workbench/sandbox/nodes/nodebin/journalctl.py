"""`journalctl -u UNIT [-n N] [-f] [-o cat] [--no-pager]` on a sandbox node."""

from __future__ import annotations

import contextlib
import re
import sys
import time

import nodelib

PREFIX = re.compile(r"^\w{3} \d\d \d\d:\d\d:\d\d \S+ [^:\s]+: ")


def _parse(argv: list[str]) -> tuple[list[str], int | None, bool, bool]:
    units: list[str] = []
    lines: int | None = None
    follow = cat = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-u", "--unit") and i + 1 < len(argv):
            units.append(nodelib.unit_name(argv[i + 1]))
            i += 1
        elif arg.startswith("--unit="):
            units.append(nodelib.unit_name(arg.split("=", 1)[1]))
        elif arg.startswith("-u") and len(arg) > 2:
            units.append(nodelib.unit_name(arg[2:]))
        elif arg in ("-n", "--lines") and i + 1 < len(argv):
            lines = int(argv[i + 1])
            i += 1
        elif arg.startswith("--lines="):
            lines = int(arg.split("=", 1)[1])
        elif arg.startswith("-n") and arg[2:].isdigit():
            lines = int(arg[2:])
        elif arg in ("-f", "--follow"):
            follow = True
        elif arg in ("-o", "--output") and i + 1 < len(argv):
            cat = argv[i + 1] == "cat"
            i += 1
        elif arg == "--output=cat":
            cat = True
        i += 1
    return units, lines, follow, cat


def _read(units: list[str]) -> list[str]:
    names = units or sorted(p.stem for p in nodelib.JOURNAL_DIR.glob("*.log"))
    out: list[str] = []
    for unit in names:
        with contextlib.suppress(OSError):
            out.extend((nodelib.JOURNAL_DIR / f"{unit}.log").read_text(errors="replace").splitlines())
    return out


def main(argv: list[str]) -> int:
    try:
        units, lines, follow, cat = _parse(argv)
    except ValueError:
        print("Failed to parse lines argument.", file=sys.stderr)
        return 1

    def show(batch: list[str]) -> None:
        for line in batch:
            print(PREFIX.sub("", line) if cat else line)
        sys.stdout.flush()

    seen = _read(units)
    if lines is None:
        lines = 10 if follow else len(seen)
    if not seen and not follow:
        print("-- No entries --")
        return 0
    show(seen[-lines:] if lines else [])
    while follow:
        time.sleep(0.2)
        now = _read(units)
        if len(now) > len(seen):
            show(now[len(seen):])
        seen = now
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)
