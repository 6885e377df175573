"""Alerts: what the doctor finds, each with a fix a person can run after confirming."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "error", "critical"]
FixFn = Callable[[], Awaitable[str]]  # returns a one-line summary of what it did


@dataclass(frozen=True)
class Fix:
    name: str  # "delete", "hard-reboot", "rebuild", "recreate", ...
    description: str  # what it will do, in words, before it runs
    run: FixFn = field(compare=False, repr=False)
    destructive: bool = True


@dataclass(frozen=True)
class Alert:
    kind: str  # leaked-port, token-mismatch, ...
    severity: Severity
    subject: str  # the port id, node name, ...
    message: str  # what is wrong, for a person
    command: str = ""  # the equivalent openstack / ssh command
    details: str = ""  # longer text: console tail, fault, ...
    fixes: tuple[Fix, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "command": self.command,
            "fixes": [f.name for f in self.fixes],
        }
