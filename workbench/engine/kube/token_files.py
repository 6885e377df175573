"""The two token files, parsed: the master's ``known_tokens.csv`` and a kubelet kubeconfig.

The kubeconfig is parsed as YAML (never grepped). Anything that is not YAML, or not shaped
like a kubeconfig where we look (``users``, ``contexts``, a user's ``user`` mapping), is
a one-line KubeconfigError naming the field; a csv the csv module cannot read is a
KnownTokensError. No other exception escapes.
"""

from __future__ import annotations

import csv
from typing import Any

import yaml

from workbench.errors import WorkbenchError


class KnownTokensError(WorkbenchError):
    """A known_tokens.csv the csv module cannot read (a field past its size limit); one line."""


def master_token_from_csv(text: str) -> str | None:
    """The kubelet's token in a known_tokens.csv (token,user,uid[,groups]); else the first."""
    try:
        rows = [r for r in csv.reader(text.splitlines()) if r and r[0].strip()]
    except csv.Error as exc:
        raise KnownTokensError(f"known_tokens.csv: not CSV ({exc})") from None
    for row in rows:
        if len(row) > 1 and row[1].strip() == "kubelet":
            return row[0].strip()
    return rows[0][0].strip() if rows else None


class KubeconfigError(WorkbenchError):
    """A kubelet kubeconfig that is not YAML, or not shaped like a kubeconfig; one line."""


def _kubeconfig(text: str) -> dict[str, Any]:
    """The kubeconfig document; KubeconfigError when it is not a YAML mapping."""
    try:
        doc = yaml.safe_load(text) if text.strip() else None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: a bad !!timestamp, !!int
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        why = getattr(exc, "problem", None) or (str(exc) if isinstance(exc, ValueError) else type(exc).__name__)
        raise KubeconfigError(f"kubeconfig: not valid YAML{where} ({why})") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig: expected a mapping, found {type(doc).__name__}")
    return doc


def _entries(doc: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """The mappings in a ``users`` / ``contexts`` list (a missing one is empty)."""
    value = doc.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise KubeconfigError(f"kubeconfig: {field}: expected a list, found {type(value).__name__}")
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise KubeconfigError(f"kubeconfig: {field}[{index}]: expected a mapping, found {type(entry).__name__}")
    return value


def _kubeconfig_user(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The ``user`` mapping the current context uses (or the only / kubelet one)."""
    users = _entries(doc, "users")
    wanted = None
    current = doc.get("current-context")
    for index, ctx in enumerate(_entries(doc, "contexts")):
        if ctx.get("name") == current:
            context = ctx.get("context") or {}
            if not isinstance(context, dict):
                raise KubeconfigError(f"kubeconfig: contexts[{index}].context: expected a mapping")
            wanted = context.get("user")
    chosen = next((u for u in users if u.get("name") == wanted or (wanted is None and u.get("name") == "kubelet")),
                  users[0] if len(users) == 1 else None)
    if chosen is None:
        return None
    user = chosen.setdefault("user", {})
    if user is None:
        user = chosen["user"] = {}
    if not isinstance(user, dict):
        raise KubeconfigError(f"kubeconfig: users[{users.index(chosen)}].user: expected a mapping")
    return user


def kubeconfig_token(text: str) -> str | None:
    """The current user's token (None in an empty file); KubeconfigError when malformed."""
    if not text.strip():
        return None
    user = _kubeconfig_user(_kubeconfig(text))
    token = user.get("token") if user else None
    return str(token) if token else None


def with_token(text: str, token: str) -> str:
    """The kubeconfig with the current user's token replaced (other fields kept)."""
    doc = _kubeconfig(text)
    user = _kubeconfig_user(doc)
    if user is None:
        raise KubeconfigError("kubeconfig: no user entry to put the token in")
    user["token"] = token
    return str(yaml.safe_dump(doc, default_flow_style=False, sort_keys=False))
