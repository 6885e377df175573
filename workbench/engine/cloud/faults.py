"""Nova's ``fault`` on a server in ERROR: the explanation to show and what kind of failure it is.

Older clouds put the exception name in ``message`` (``NoValidHost``) and the explanation,
often followed by a traceback, in ``details``; newer ones put the explanation in
``message``. The kind decides which fixes can help: capacity (no valid host, scheduling
attempts exhausted) is not cured by the same flavor in the same zone; a port-binding
failure is Neutron's; a network-allocation failure is Nova waiting on Neutron.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_EXCEPTION_NAME = re.compile(r"^[A-Z][A-Za-z0-9_.]*$")
_TRACE = re.compile(r"^(?:Traceback \(most recent call last\):|File \"|raise |\w+(?:\.\w+)*\(|[\w.]+ = )")

# first match wins: a reschedule that ended on a binding failure is Neutron's, not capacity
_KINDS = (
    ("port-binding", re.compile(r"binding failed for port|portbindingfailed|vif_type=binding_failed", re.I)),
    ("network", re.compile(r"failed to allocate the network|virtual ?interface creation failed|"
                           r"virtualinterfacecreateexception", re.I)),
    ("capacity", re.compile(r"no ?valid ?host|exceeded maximum number of retries|max scheduling attempts|"
                            r"exhausted all hosts|not enough hosts available", re.I)),
)


@dataclass(frozen=True)
class NovaFault:
    kind: str  # capacity, port-binding, network, other
    explanation: str  # one line, what a person reads
    name: str = ""  # the exception name an older Nova put in ``message``
    code: int | None = None

    def text(self) -> str:
        tags = ", ".join(t for t in (self.name, f"code {self.code}" if self.code else "") if t)
        return f"{self.explanation} ({tags})" if tags else self.explanation


def _first_line(details: str) -> str:
    """The explanation in ``details``: its first line that is not traceback."""
    for raw in details.splitlines():
        line = raw.strip()
        if line and not _TRACE.match(line):
            return line
    return ""


def read_fault(fault: Any) -> NovaFault | None:
    """The fault of a server (a dict as Nova sends it, or a plain string); None when absent."""
    if not fault:
        return None
    if not isinstance(fault, dict):
        text = str(fault).strip()
        return NovaFault(kind_of(text), text.splitlines()[0] if text else "")
    message = str(fault.get("message") or "").strip()
    details = str(fault.get("details") or "")
    code = fault.get("code")
    code_num = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    name = ""
    explanation = message.splitlines()[0] if message else ""
    if _EXCEPTION_NAME.match(message) and _first_line(details):
        name, explanation = message.rsplit(".", 1)[-1], _first_line(details)
    elif not explanation:
        explanation = _first_line(details) or "Nova gave no fault message"
    return NovaFault(kind_of(f"{message}\n{details}"), explanation, name, code_num)


def kind_of(text: str) -> str:
    return next((kind for kind, pattern in _KINDS if pattern.search(text)), "other")
