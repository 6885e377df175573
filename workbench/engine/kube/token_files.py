"""The two token files, parsed: the master's ``known_tokens.csv`` and a kubelet kubeconfig.

The kubeconfig is parsed as YAML (never grepped). Anything that is not YAML, or not shaped
like a kubeconfig where we look (``users``, ``contexts``, a user's ``user`` mapping), is
a one-line KubeconfigError naming the field; a csv the csv module cannot read is a
KnownTokensError. No other exception escapes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

import yaml

from workbench.errors import WorkbenchError


class KnownTokensError(WorkbenchError):
    """A known_tokens.csv the csv module cannot read (a field past its size limit); one line."""


PRIVILEGED_GROUPS = frozenset({"system:masters"})
PRIVILEGED_USERS = frozenset({"admin"})


@dataclass(frozen=True)
class TokenRow:
    """One known_tokens.csv row: token,user,uid[,"group1,group2"]."""

    token: str
    user: str
    uid: str = ""
    groups: tuple[str, ...] = ()

    @property
    def privileged(self) -> bool:
        """Cluster-admin power: never copied into a node's kubeconfig."""
        return (bool(PRIVILEGED_GROUPS & set(self.groups))
                or self.user in PRIVILEGED_USERS or self.uid.removeprefix("uid:") in PRIVILEGED_USERS)

    def describe(self) -> str:
        groups = f" (groups {', '.join(self.groups)})" if self.groups else ""
        return f"{self.user}{groups}"


def known_token_rows(text: str) -> list[TokenRow]:
    """Every row of a known_tokens.csv; KnownTokensError when the csv module cannot read it."""
    try:
        raw = [r for r in csv.reader(text.splitlines()) if r and r[0].strip() and not r[0].lstrip().startswith("#")]
    except csv.Error as exc:
        raise KnownTokensError(f"known_tokens.csv: not CSV ({exc})") from None
    rows = []
    for r in raw:
        cells = [c.strip() for c in r]
        groups = tuple(g.strip() for g in ",".join(cells[3:]).split(",") if g.strip())
        rows.append(TokenRow(cells[0], cells[1] if len(cells) > 1 else "", cells[2] if len(cells) > 2 else "", groups))
    return rows


def _names(value: str) -> set[str]:
    """A csv user/uid and the forms the same identity takes (``uid:kubelet``, ``system:node:X``)."""
    return {value, value.removeprefix("uid:")} - {""}


def row_for_user(rows: list[TokenRow], user: str | None, node: str) -> TokenRow | None:
    """The csv row of the kubeconfig's ``user`` (by user name or uid; ``system:node:<node>``
    in group ``system:nodes`` for a kubelet); None when no row, or more than one token, fits.
    Never another row: a kubelet row missing is a fact to report, not a gap to fill."""
    if not user:
        return None
    node_identity = f"system:node:{node}"
    wanted = {user}
    if user in ("kubelet", node_identity):
        wanted |= {"kubelet", node_identity}

    def fits_row(row: TokenRow) -> bool:
        names = _names(row.user) | _names(row.uid)
        if names & wanted - {node_identity}:
            return True
        # the node authorizer's identity counts only with its group
        return node_identity in names & wanted and "system:nodes" in row.groups

    fits = [r for r in rows if fits_row(r)]
    exact = [r for r in fits if r.user == user] or fits
    tokens = {r.token for r in exact}
    return exact[0] if len(tokens) == 1 else None


def master_token_from_csv(text: str) -> str | None:
    """A token to read the API with (the kubelet's row, else the first); never written anywhere."""
    rows = known_token_rows(text)
    kubelet = next((r for r in rows if "kubelet" in _names(r.user) | _names(r.uid)), None)
    return (kubelet or rows[0]).token if rows else None


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


def _kubeconfig_entry(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The ``users`` entry the current context uses (or the only / kubelet one)."""
    users = _entries(doc, "users")
    wanted = None
    current = doc.get("current-context")
    for index, ctx in enumerate(_entries(doc, "contexts")):
        if ctx.get("name") == current:
            context = ctx.get("context") or {}
            if not isinstance(context, dict):
                raise KubeconfigError(f"kubeconfig: contexts[{index}].context: expected a mapping")
            wanted = context.get("user")
    return next((u for u in users if u.get("name") == wanted or (wanted is None and u.get("name") == "kubelet")),
                users[0] if len(users) == 1 else None)


def _kubeconfig_user(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The ``user`` mapping the current context uses (or the only / kubelet one)."""
    chosen = _kubeconfig_entry(doc)
    if chosen is None:
        return None
    users = _entries(doc, "users")
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


def kubeconfig_user_name(text: str) -> str | None:
    """The name of the user entry the current context uses (what known_tokens.csv calls it)."""
    if not text.strip():
        return None
    entry = _kubeconfig_entry(_kubeconfig(text))
    name = entry.get("name") if entry else None
    return str(name) if name else None


def with_token(text: str, token: str) -> str:
    """The kubeconfig with the current user's token replaced (other fields kept)."""
    doc = _kubeconfig(text)
    user = _kubeconfig_user(doc)
    if user is None:
        raise KubeconfigError("kubeconfig: no user entry to put the token in")
    user["token"] = token
    return str(yaml.safe_dump(doc, default_flow_style=False, sort_keys=False))
