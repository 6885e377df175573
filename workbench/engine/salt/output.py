"""Salt's state-run output, parsed: ``--out=json`` where it parses, the text highstate
format otherwise, and the readable log lines made from either.

Salt's JSON is a contract: a state inside it with a wrong type (a non-numeric
``duration`` or ``__run_num__``, a ``result`` that is not a boolean) is a one-line
SaltOutputError naming that state, never a ValueError from deep inside. The text format is
read leniently: it is what a person reads, and its cosmetic fields may vary.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from workbench.errors import WorkbenchError


@dataclass(frozen=True)
class StateResult:
    id: str
    function: str  # "file.managed"
    name: str
    result: bool | None  # None: test mode / would change
    comment: str
    duration_ms: float = 0.0
    changed: bool = False


# -- JSON ----------------------------------------------------------------------------------

class SaltOutputError(WorkbenchError):
    """Salt's output has the right outer shape but a malformed state inside; one line."""


_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*")


def _duration_ms(value: Any) -> float:
    """Milliseconds from a number (Salt's JSON) or text like ``12.5 ms`` / ``1.2 s`` (older
    Salt, the text outputter); ValueError for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"duration {str(value)[:30]!r} is not a number of ms")
    return float(match.group(1)) * (1000 if match.group(2) == "s" else 1)


def _malformed(key: str, why: str) -> SaltOutputError:
    return SaltOutputError(f"salt output: state {key[:80]!r} is malformed ({why})")


def _record(key: str, ret: dict[str, Any]) -> StateResult:
    comps = key.split("_|-")
    function = f"{comps[0]}.{comps[3]}" if len(comps) == 4 else comps[0]
    comment = ret.get("comment", "")
    if isinstance(comment, list):
        comment = "\n".join(map(str, comment))
    result = ret.get("result")
    if result is not None and not isinstance(result, bool):
        raise ValueError(f"result {str(result)[:30]!r} is not true, false or null")
    return StateResult(
        id=str(ret.get("__id__") or (comps[1] if len(comps) > 1 else key)),
        function=function,
        name=str(ret.get("name") or (comps[2] if len(comps) > 2 else "")),
        result=result,
        comment=str(comment).strip(),
        duration_ms=_duration_ms(ret.get("duration") or 0.0),
        changed=bool(ret.get("changes")),
    )


def _run_num(ret: dict[str, Any]) -> float:
    num = ret.get("__run_num__", 0)
    if isinstance(num, bool) or not isinstance(num, int | float):
        raise ValueError(f"__run_num__ {str(num)[:30]!r} is not a number")
    return float(num)


def _states(data: dict[str, Any]) -> list[StateResult]:
    """The states of one ``--out=json`` document, in run order."""
    ordered: list[tuple[float, StateResult]] = []
    for key, ret in data.items():
        if not isinstance(ret, dict):
            raise _malformed(key, f"a {type(ret).__name__}, not a mapping")
        try:
            ordered.append((_run_num(ret), _record(key, ret)))
        except ValueError as exc:
            raise _malformed(key, str(exc)) from None
    ordered.sort(key=lambda pair: pair[0])
    return [record for _, record in ordered]


def parse_json_output(text: str) -> list[StateResult] | None:
    """States from ``--out=json`` (None if ``text`` holds no such document); a malformed
    state raises SaltOutputError naming it."""
    start = text.find("{")
    while start != -1:
        try:
            doc, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            start = text.find("\n{", start + 1)
            start = start + 1 if start != -1 else -1
            continue
        if not isinstance(doc, dict) or len(doc) != 1:
            return None
        data = next(iter(doc.values()))
        if isinstance(data, list):  # compile errors
            return [StateResult("(compile)", "state.highstate", "", False, str(e)) for e in data]
        if isinstance(data, str):
            return [StateResult("(error)", "salt-call", "", False, data)]
        if not isinstance(data, dict):
            return None
        return _states(data)
    return None


_FIELD = re.compile(r"^\s{0,12}(ID|Function|Name|Result|Comment|Started|Duration|Changes):\s?(.*)$")
#: ``--state-output=terse`` (and the clean states of ``mixed``/``changes``): one line a state.
_TERSE = re.compile(r"^\s*Name: (?P<name>.*?) - Function: (?P<fun>\S+) - Result: (?P<res>Clean|Changed|Failed|Differs)"
                    r"(?: - Started: \S+)?(?: - Duration: (?P<dur>.+?))?\s*$")
_TERSE_RESULT = {"Clean": (True, False), "Changed": (True, True), "Failed": (False, False), "Differs": (None, True)}
_SUMMARY = re.compile(r"^Summary(?: for \S+)?\s*$")
_COUNT = re.compile(r"^(Succeeded|Failed):\s+(\d+)")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _ms(text: str) -> float:
    duration = _DURATION.match(text or "")  # lenient: a cosmetic field
    return float(duration.group(1)) * (1000 if duration.group(2) == "s" else 1) if duration else 0.0


def parse_highstate_text(text: str) -> list[StateResult]:
    """States from Salt's text highstate outputter, in every ``--state-output`` style: the
    ``----------`` blocks of full/changes/mixed (``_id`` variants without a Name line), the
    one-line states of terse/mixed/changes, colour codes, test mode (``Result: None`` /
    ``Differs``). States ``--state-verbose=False`` left out are counted back from the
    Summary as clean ones, so a quiet, clean run is not an empty one."""
    states: list[StateResult] = []
    lines = ANSI.sub("", text).replace("\r\n", "\n").split("\n")
    compile_error = any(line.strip() == "Data failed to compile:" for line in lines)
    block: dict[str, str] = {}
    current: str | None = None
    counts: dict[str, int] = {}

    def flush() -> None:
        if "ID" in block:
            result = {"True": True, "False": False}.get(block.get("Result", "").strip())
            changes = block.get("Changes", "").strip()
            states.append(StateResult(
                block["ID"].strip(), block.get("Function", "").strip(), block.get("Name", block["ID"]).strip(),
                result, block.get("Comment", "").strip(), _ms(block.get("Duration", "")), bool(changes),
            ))
        elif compile_error and block.get("_text", "").strip():
            states.append(StateResult("(compile)", "state.highstate", "", False, block["_text"].strip()))
        block.clear()

    summary = False
    for line in lines:
        if summary:
            count = _COUNT.match(line)
            if count:
                counts[count.group(1)] = int(count.group(2))
            continue
        if line.rstrip() == "----------":
            flush()
            current = None
            continue
        if _SUMMARY.match(line):
            flush()
            summary = True
            continue
        terse = _TERSE.match(line)
        if terse:
            flush()
            current = None
            result, changed = _TERSE_RESULT[terse.group("res")]
            name = terse.group("name")
            states.append(StateResult(name, terse.group("fun"), name, result, "", _ms(terse.group("dur") or ""), changed))
            continue
        match = _FIELD.match(line)
        if match and (match.group(1) != "Changes" or "ID" in block):
            current = match.group(1)
            block[current] = match.group(2)
        elif current in ("Comment", "Changes"):
            block[current] += "\n" + line.strip()
        elif compile_error and line.startswith("    ") and line.strip() != "Data failed to compile:":
            block["_text"] = block.get("_text", "") + line.strip() + "\n"
    flush()
    hidden = counts.get("Succeeded", 0) + counts.get("Failed", 0) - len(states)
    states += [StateResult(f"(not shown {i + 1})", "", "", True, "clean; not shown (--state-verbose=False)")
               for i in range(max(0, hidden))]
    return states


def parse_output(stdout: str) -> list[StateResult]:
    parsed = parse_json_output(stdout)
    return parsed if parsed is not None else parse_highstate_text(stdout)


def readable_lines(stdout: str) -> list[str]:
    """The run as a person reads it in the logs, like Salt's ``state_output: mixed``: a line
    per state that went well, the whole block for one that did not. Text output (no JSON)
    is already readable and comes back as it is."""
    try:
        states = parse_json_output(stdout)
    except SaltOutputError:
        states = None
    if states is None:
        return [line for line in ANSI.sub("", stdout).splitlines() if line.strip()]
    lines: list[str] = []
    for state in states:
        took = f"{state.duration_ms:.3f} ms"
        if state.result is not False:
            outcome = "Changed" if state.changed else ("Clean" if state.result else "Differs")
            lines.append(f"  Name: {state.name or state.id} - Function: {state.function} - "
                         f"Result: {outcome} - Duration: {took}")
            continue
        comment = state.comment.splitlines() or [""]
        lines += ["----------", f"          ID: {state.id}", f"    Function: {state.function}",
                  f"        Name: {state.name}", "      Result: False", f"     Comment: {comment[0]}",
                  *(f"              {more}" for more in comment[1:]), f"    Duration: {took}"]
    return lines
