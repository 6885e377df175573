"""`journalctl [-u UNIT]... [-n N] [-f] [--since T] [-o cat] [--no-pager]` on a sandbox node.

Reads the journal files the node's init writes (/var/log/journal/<unit>.log, one line an
entry: "<epoch> <short-format line>").
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time

JOURNAL_DIR = "/var/log/journal"
PREFIX = re.compile(r"^\w{3} \d\d \d\d:\d\d:\d\d \S+ [^:\s]+: ")


def unit_name(arg: str) -> str:
    return arg[: -len(".service")] if arg.endswith(".service") else arg


def since_epoch(text: str) -> float:
    """"-5min", "1 hour ago", "today", "YYYY-MM-DD[ HH:MM[:SS]]", "HH:MM[:SS]" or @EPOCH."""
    now = time.time()
    text = text.strip()
    units = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "min": 60, "m": 60, "minute": 60,
             "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
             "days": 86400}
    match = re.fullmatch(r"-?(\d+)\s*([a-z]+)(?: ago)?", text)
    if match and match.group(2) in units:
        return now - int(match.group(1)) * units[match.group(2)]
    if text == "now":
        return now
    if text in ("today", "yesterday"):
        day = time.mktime((*time.localtime(now)[:3], 0, 0, 0, 0, 0, -1))
        return day - (86400 if text == "yesterday" else 0)
    if text.startswith("@"):
        return float(text[1:])
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        with contextlib.suppress(ValueError):
            return time.mktime(time.strptime(text, fmt))
    for fmt in ("%H:%M:%S", "%H:%M"):
        with contextlib.suppress(ValueError):
            t = time.strptime(text, fmt)
            return time.mktime((*time.localtime(now)[:3], t.tm_hour, t.tm_min, t.tm_sec, 0, 0, -1))
    raise ValueError(text)


def _parse(argv: list[str]) -> tuple[list[str], int | None, bool, bool, float]:
    units: list[str] = []
    lines: int | None = None
    follow = cat = False
    since = 0.0
    i = 0
    while i < len(argv):
        arg = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if arg in ("-u", "--unit") and nxt is not None:
            units.append(unit_name(nxt))
            i += 1
        elif arg.startswith("--unit="):
            units.append(unit_name(arg.split("=", 1)[1]))
        elif arg.startswith("-u") and len(arg) > 2:
            units.append(unit_name(arg[2:]))
        elif arg in ("-n", "--lines") and nxt is not None:
            lines = int(nxt)
            i += 1
        elif arg.startswith("--lines="):
            lines = int(arg.split("=", 1)[1])
        elif arg.startswith("-n") and arg[2:].isdigit():
            lines = int(arg[2:])
        elif arg in ("-f", "--follow"):
            follow = True
        elif arg in ("-S", "--since") and nxt is not None:
            since = since_epoch(nxt)
            i += 1
        elif arg.startswith("--since="):
            since = since_epoch(arg.split("=", 1)[1])
        elif arg in ("-o", "--output") and nxt is not None:
            cat = nxt == "cat"
            i += 1
        elif arg == "--output=cat":
            cat = True
        i += 1
    return units, lines, follow, cat, since


def _read(units: list[str], since: float) -> list[tuple[float, str]]:
    try:
        names = units or sorted(n[:-4] for n in os.listdir(JOURNAL_DIR) if n.endswith(".log"))
    except OSError:
        names = []
    out: list[tuple[float, str]] = []
    for unit in names:
        with contextlib.suppress(OSError), open(os.path.join(JOURNAL_DIR, f"{unit}.log"),
                                                encoding="utf-8", errors="replace") as handle:
            for line in handle.read().splitlines():
                stamp, _, text = line.partition(" ")
                try:
                    when = float(stamp)
                except ValueError:
                    when, text = 0.0, line
                if when >= since:
                    out.append((when, text))
    out.sort(key=lambda entry: entry[0])
    return out


def main(argv: list[str]) -> int:
    try:
        units, lines, follow, cat, since = _parse(argv)
    except ValueError as exc:
        print(f"Failed to parse argument: {exc}", file=sys.stderr)
        return 1

    def show(batch: list[tuple[float, str]]) -> None:
        for _, line in batch:
            print(PREFIX.sub("", line) if cat else line)
        sys.stdout.flush()

    seen = _read(units, since)
    if lines is None:
        lines = 10 if follow else len(seen)
    if not seen and not follow:
        print("-- No entries --")
        return 0
    show(seen[-lines:] if lines else [])
    while follow:
        time.sleep(0.2)
        now = _read(units, since)
        if len(now) > len(seen):
            show(now[len(seen):])
        seen = now
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)
