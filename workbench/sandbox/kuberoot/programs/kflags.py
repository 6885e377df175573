"""Command lines parsed as the real binaries do: pflag (Kubernetes) and Go's flag (etcd).

A table entry is ``{"bool": bool, "deprecated": str}`` from ``flagtables/<version>.json``
(tools/kube_flags.py). A ``None`` table accepts every flag (a version we have no table for).
Errors carry the real text; the caller prints them in the component's own way.
"""

import sys


class FlagError(Exception):
    """A command line the real binary rejects; ``str()`` is the real message."""


def _normalize(name):
    return name.replace("_", "-")  # cliflag.WordSepNormalizeFunc


def parse_pflag(argv, table, shorthands=None):
    """pflag's rules: --name=value, --name value, --bool, -v=2; returns (values, positional)."""
    shorthands = shorthands or {"v": "v", "h": "help"}
    values, positional = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional += argv[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            name = _normalize(name)
            shown = "--" + name
        else:
            letter, eq, value = arg[1:].partition("=")
            if len(letter) > 1 and not eq:
                letter, eq, value = letter[0], "=", letter[1:]
            if letter not in shorthands:
                raise FlagError(f"unknown shorthand flag: '{letter[0]}' in {arg}")
            name, shown = shorthands[letter], "-" + letter
        spec = table.get(name) if table is not None else {"bool": False}
        if spec is None:
            raise FlagError(f"unknown flag: {shown}")
        if spec.get("bool"):
            value = value if eq else "true"
        elif not eq:
            if i >= len(argv):
                raise FlagError(f"flag needs an argument: {shown}")
            value = argv[i]
            i += 1
        if spec.get("deprecated"):
            print(f"Flag --{name} has been deprecated, {spec['deprecated']}", file=sys.stderr)
        if name in values and isinstance(values[name], list):
            values[name].append(value)
        elif name in values:
            values[name] = [values[name], value]
        else:
            values[name] = value
    return values, positional


def parse_goflag(argv, table):
    """Go's flag package (etcd): -name or --name, bools only as -name or -name=value."""
    values = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            break
        i += 1
        if arg == "--":
            break
        name, eq, value = arg.lstrip("-").partition("=")
        spec = table.get(name) if table is not None else {"bool": False}
        if spec is None:
            raise FlagError(f"flag provided but not defined: -{name}")
        if spec.get("bool"):
            value = value if eq else "true"
        elif not eq:
            if i >= len(argv):
                raise FlagError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        values[name] = value
    return values, argv[i:]


def last(values, name, default=""):
    """A flag's value (the last one given wins, as pflag's Set does)."""
    got = values.get(name, default)
    return got[-1] if isinstance(got, list) else got


def as_bool(text):
    return str(text).lower() in ("1", "t", "true")


def duration(text, default=0.0):
    """Go's time.ParseDuration for the units components use: 1h2m3.5s, 500ms, 10s."""
    text = str(text).strip()
    if not text:
        return default
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, num, i = 0.0, "", 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in units else c
        if unit not in units or not num:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    if num and text != "0":
        raise ValueError(f'time: missing unit in duration "{text}"')
    return total


def usage(command, table):
    """cobra + cliflag's usage (help text omitted: the table keeps names and kinds only)."""
    lines = ["Usage:", f"  {command} [flags]", "", "Flags:", ""]
    for name in sorted(table or {}):
        kind = "" if table[name].get("bool") else " string"
        lines.append(f"      --{name}{kind}")
    return "\n".join(lines)
