"""Salt's highstate and json outputters, as `salt-call` prints them (stdlib only)."""

from __future__ import annotations

import json


def _nested(value: object, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        out = [f"{pad}----------"]
        for key, item in value.items():
            if isinstance(item, dict | list):
                out.append(f"{pad}{key}:")
                out.extend(_nested(item, indent + 4))
            else:
                out.append(f"{pad}{key}:")
                out.append(f"{pad}    {item}")
        return out
    if isinstance(value, list):
        return [f"{pad}- {item}" for item in value]
    return [f"{pad}{value}"]


def _state_block(ret: dict) -> list[str]:
    comps = ret["_key"].split("_|-")
    lines = [
        "----------",
        f"          ID: {comps[1]}",
        f"    Function: {comps[0]}.{comps[3]}",
        f"      Result: {ret['result']}",
        "     Comment: " + str(ret["comment"]).strip().replace("\n", "\n" + " " * 14),
    ]
    if comps[1] != comps[2]:
        lines.insert(3, f"        Name: {comps[2]}")
    if "start_time" in ret:
        lines.append(f"     Started: {ret['start_time']}")
        lines.append(f"    Duration: {ret['duration']} ms")
    changes = "     Changes:   "
    if ret["changes"]:
        lines.append(changes)
        lines.extend(_nested(ret["changes"], 14))
    else:
        lines.append(changes)
    return lines


def highstate(host: str, data: dict | list) -> str:
    """Text the way `salt-call state.highstate` prints it (colour off)."""
    out = [f"{host}:"]
    if isinstance(data, list):
        out.append("    Data failed to compile:")
        for err in data:
            out.append(f"----------\n    {err}")
        return "\n".join(out)
    counts = {True: 0, False: 0, None: 0}
    changed = 0
    total_ms = 0.0
    for key, ret in sorted(data.items(), key=lambda kv: kv[1].get("__run_num__", 0)):
        counts[ret["result"]] = counts.get(ret["result"], 0) + 1
        changed += bool(ret["changes"])
        total_ms += float(ret.get("duration", 0.0) or 0.0)
        out.extend(_state_block({**ret, "_key": key}))
    width = len("Succeeded") + max(len(str(c)) for c in counts.values()) + 2

    def count(label: str, n: int) -> str:
        return f"{label}: {n:>{width - len(label) - 2}}"

    stats = f" (changed={changed})" if changed else ""
    out.append(f"\nSummary for {host}\n{'-' * width}")
    out.append(count("Succeeded", counts[True] + counts[None]) + stats)
    out.append(count("Failed", counts[False]))
    out.append(f"{'-' * width}\nTotal states run: {sum(counts.values()):>{width - 7}}")
    unit = "ms"
    if total_ms > 999:
        total_ms, unit = total_ms / 1000, "s"
    out.append(f"Total run time: {f'{total_ms:.3f}'.rjust(width - 5)} {unit}")
    return "\n".join(out)


def as_json(host: str, data: object) -> str:
    return json.dumps({host: data}, indent=4)
