"""Lines of ``salt-run state.event pretty=False``: ``TAG<TAB>{json}``, one per event.

Only job events are kept (``salt/job/<jid>/<kind>[/<minion>[/<n>]]``): ``new`` (the
minions the master expects), ``prog`` (one state done, with ``state_events: True``) and
``ret`` (a minion's whole return). Anything else on the bus is None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.salt.output import StateResult, _duration_ms


@dataclass(frozen=True)
class JobEvent:
    jid: str
    kind: str  # new, publish, prog, ret, ...
    minion: str | None
    data: dict[str, Any] = field(compare=False)


def parse_event_line(line: str) -> JobEvent | None:
    tag, sep, body = line.rstrip("\r\n").partition("\t")
    if not sep:
        return None
    parts = tag.split("/")
    if len(parts) < 4 or parts[0] != "salt" or parts[1] != "job":
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    minion = parts[4] if len(parts) > 4 and parts[4] else None
    return JobEvent(parts[2], parts[3], minion, data)


def expected_minions(event: JobEvent) -> tuple[list[str], list[str]]:
    """From a ``new`` event: (minions the master published to, targets it has no key for)."""
    minions = event.data.get("minions") or []
    missing = event.data.get("missing") or []
    return ([str(m) for m in minions] if isinstance(minions, list) else [],
            [str(m) for m in missing] if isinstance(missing, list) else [])


def progress(event: JobEvent) -> tuple[int, int, StateResult] | None:
    """From a ``prog`` event: (states done, states in all, the state just done)."""
    data = event.data.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("ret"), dict):
        return None
    ret = data["ret"]
    total = data.get("len")
    num = ret.get("__run_num__")
    if not isinstance(num, int) or not isinstance(total, int):
        return None
    result = ret.get("result")
    try:
        took = _duration_ms(ret.get("duration") or 0.0)
    except ValueError:
        took = 0.0
    state = StateResult(
        id=str(ret.get("__id__", "")), function=str(ret.get("__sls__", "")),
        name=str(ret.get("name", "")), result=result if isinstance(result, bool) else None,
        comment=str(ret.get("comment", "")), duration_ms=took, changed=bool(ret.get("changes")),
    )
    return num + 1, total, state


def return_document(event: JobEvent) -> tuple[str, int | None]:
    """From a ``ret`` event: the minion's return as ``salt-call --out=json`` prints it (so
    the masterless parser reads it unchanged), and its retcode."""
    retcode = event.data.get("retcode")
    doc = json.dumps({event.minion or "local": event.data.get("return")})
    return doc, retcode if isinstance(retcode, int) and not isinstance(retcode, bool) else None


def json_documents(text: str) -> list[Any]:
    """Every JSON document in ``text``, in order: the ``salt`` CLI prints one per minion as
    each returns (``--static`` would wait for all, and runs Salt's batch path)."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos = 0
    while (start := _next_open(text, pos)) != -1:
        try:
            doc, end = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        docs.append(doc)
        pos = end
    return docs


def _next_open(text: str, pos: int) -> int:
    starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i != -1]
    return min(starts) if starts else -1
