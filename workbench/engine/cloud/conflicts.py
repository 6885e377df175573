"""Which 409s (and their 400/403 cousins) go away by waiting, and what to do about the rest.

openstacksdk builds its exception from the body's ``message`` only: Neutron's error
``type`` (``OverQuota``, ``IpAddressGenerationFailure``...) is lost unless the response
is still attached. So the classification reads the type where it survives and the
message text always, case-insensitively, in the wording Neutron and Nova really use
(tests/fixtures/real/openstack). Only conflicts known to be transient (a port still
detaching, an instance mid-task, a revision race) are retried; any other 409 fails fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Conflict:
    kind: str  # quota, ip-exhausted, floating-ip-exhausted, ip-taken, ...
    permanent: bool
    summary: str  # what the cloud said, in our words, naming the resource
    advice: str = ""  # what the user can do

    def line(self) -> str:
        return f"{self.summary}; {self.advice}" if self.advice else self.summary


_I = re.IGNORECASE

# (pattern on "type message", kind, summary template, advice); the first match wins
_PERMANENT: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (re.compile(r"quota exceeded for resources?:?\s*\[?['\"]?(?P<what>[\w-]+)", _I), "quota",
     "project quota exhausted for {what}",
     "free some in the project (workbench doctor finds leaked ones) or ask for a larger quota"),
    (re.compile(r"quota exceeded for (?P<what>[\w ,]+?)(?::|\.|$)|over ?quota|maximum number of (?P<max>[\w ]+?) allowed",
                _I | re.MULTILINE),
     "quota", "project quota exhausted for {what}",
     "free some in the project (workbench doctor finds leaked ones) or ask for a larger quota"),
    (re.compile(r"unable to find any ip address on external network(?: (?P<net>[\w-]+))?|externalipaddressexhausted",
                _I),
     "floating-ip-exhausted", "the floating IP pool {net}has no free address",
     "release unused floating IPs (workbench doctor) or set cloud.floating_ip_pool to another network"),
    (re.compile(r"no more ip addresses available on (?:network|subnet) (?P<net>\S+?)\.?(?:\s|$)", _I),
     "ip-exhausted", "no free IP address left on network {net}",
     "delete leaked ports there (workbench doctor) or widen the subnet's allocation pool"),
    (re.compile(r"ipaddressgenerationfailure", _I), "ip-exhausted", "no free IP address left on the network",
     "delete leaked ports there (workbench doctor) or widen the subnet's allocation pool"),
    (re.compile(r"ip address (?P<ip>[\d.:a-f]+) already allocated in subnet (?P<net>\S+)", _I), "ip-taken",
     "IP address {ip} is already held by another port in subnet {net}",
     "delete the port holding it (workbench doctor shows leaked ones) or change cluster.node_ip_base"),
    (re.compile(r"the ip address (?P<ip>\S+) is in use|fixed ip address (?P<ip2>\S+) is already in use"
                r"|ipaddressinuse|ipaddressalreadyallocated", _I), "ip-taken",
     "IP address {ip} is already held by another port",
     "delete the port holding it (workbench doctor shows leaked ones) or change cluster.node_ip_base"),
    (re.compile(r"already associated|floatingipportalreadyassociated", _I), "floating-ip-taken",
     "the floating IP is already associated with another port", "pick another floating IP or disassociate it first"),
    (re.compile(r"multiple possible networks found", _I), "ambiguous-network",
     "several networks match and none was named", "set cloud.network to the network's name or id"),
    (re.compile(r"mac address (?P<mac>[0-9a-f:]+) is in use|macaddressinuse", _I), "mac-taken",
     "MAC address {mac} is already used on the network", "delete the port using it"),
    (re.compile(r"already exists|conflict occurred attempting to store", _I), "duplicate",
     "a resource with that name already exists", "delete it or choose another name"),
    (re.compile(r"while it is in vm_state (?:error|deleted|soft[-_ ]delete|shelved\w*)", _I), "instance-state",
     "the instance is in a state this action cannot leave by waiting", "rebuild or recreate it (workbench doctor)"),
)

_TRANSIENT = re.compile(
    r"while it is in task_state|while it is in vm_state|in task_state|task_state|"
    r"port already has an attached device|portinuse|still in use|ports? still in use|in use by|"
    r"one or more ports have an ip allocation|has (?:one or more )?ports? still|routerinuse|subnetinuse|networkinuse|"
    r"revisionnumberconstraintfailed|revision number|conflict updating instance|unexpectedtaskstate|"
    r"concurrent|another (?:request|operation)|try again",
    _I,
)


def error_type(exc: BaseException) -> str:
    """Neutron's error ``type`` from the response the SDK kept, else ""."""
    response: Any = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except Exception:  # not JSON, or no body: the type is simply unknown
        return ""
    for value in body.values() if isinstance(body, dict) else ():
        if isinstance(value, dict) and isinstance(value.get("type"), str):
            return str(value["type"])
    return ""


def exception_text(exc: BaseException) -> str:
    """Everything the SDK exception says: its details, its string, the body's type."""
    return " ".join(str(part) for part in (error_type(exc), getattr(exc, "details", "") or "", exc) if part)


def classify(status: int | None, text: str) -> Conflict | None:
    """A conflict's class from status and text; None when it is no conflict we know."""
    if status not in (400, 403, 409, 413):
        return None
    for pattern, kind, summary, advice in _PERMANENT:
        match = pattern.search(text)
        if match is None:
            continue
        found = {k: v for k, v in match.groupdict().items() if v}
        net = found.get("net", "?")
        fields = {
            "what": found.get("what") or found.get("max", "").strip() or "a resource",
            "net": (f"{net} " if "net" in found else "") if kind == "floating-ip-exhausted" else net.rstrip("."),
            "ip": found.get("ip") or found.get("ip2") or "(the planned one)",
            "mac": found.get("mac", "?"),
        }
        return Conflict(kind, True, summary.format(**fields), advice)
    if status == 409 and _TRANSIENT.search(text):
        return Conflict("transient", False, "the resource is busy (a conflict that clears by itself)")
    if status == 409:
        return Conflict("conflict", True, "the cloud refused it as a conflict")
    return None
