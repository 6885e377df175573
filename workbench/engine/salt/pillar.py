"""The cluster's pillar as a 0600 file in the node's pillar root, never on a command line.

``salt-call ... pillar='{...}'`` puts the token in the process table, readable by every
user on the node (``ps``). Real Salt reads pillar from ``pillar_roots``: the engine writes
``workbench.sls`` (mode 0600, through the stdin of a ``umask 077`` exec) next to the
Salt tree (``/srv/salt`` -> ``/srv/pillar``) and makes sure that root's ``top.sls`` lists
it for every minion, keeping the entries already there.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from typing import Any

import yaml

from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.errors import NodeError

PILLAR_SLS = "workbench"
SALT_DEFAULT_PILLAR_ROOT = "/srv/pillar"


def pillar_root(salt_tree: str) -> str:
    """The pillar root beside the Salt tree (Salt's convention: /srv/salt, /srv/pillar)."""
    return posixpath.join(posixpath.dirname(salt_tree.rstrip("/")) or ".", "pillar")


def pillar_text(token: str) -> str:
    """``workbench.sls``: JSON, which is YAML too, so Salt's default renderer reads it."""
    return json.dumps({"kubelet_token": token}) + "\n"


def top_text(existing: str | None, path: str) -> str | None:
    """``top.sls`` listing ``workbench`` for ``'*'`` in base; None when it already does.

    A top file that is not plain YAML (Jinja) is not edited: ValueError naming the file
    and what to add by hand."""
    if existing is None or not existing.strip():
        return yaml.safe_dump({"base": {"*": [PILLAR_SLS]}}, default_flow_style=False)
    try:
        doc: Any = yaml.safe_load(existing)
    except yaml.YAMLError:
        doc = None
    base = doc.get("base") if isinstance(doc, dict) else None
    if not isinstance(base, dict) or ("{%" in existing or "{{" in existing):
        raise ValueError(f"{path} is not a plain YAML top file; add '- {PILLAR_SLS}' under base: '*' by hand")
    entries = base.get("*")
    if entries is None:
        entries = base["*"] = []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: base '*' is not a list; add '- {PILLAR_SLS}' under it by hand")
    if PILLAR_SLS in entries:
        return None
    entries.append(PILLAR_SLS)
    return str(yaml.safe_dump(doc, default_flow_style=False, sort_keys=False))


def _write_command(path: str) -> str:
    quoted, tmp = shlex.quote(path), shlex.quote(f"{path}.workbench-tmp")
    folder = shlex.quote(posixpath.dirname(path) or ".")
    inner = f"umask 077 && mkdir -p {folder} && cat > {tmp} && mv -f {tmp} {quoted}"
    return f"sudo sh -c {shlex.quote(inner)}"


async def write_pillar(pool: SSHPool, node: NodeLike, salt_tree: str, token: str) -> str:
    """Install the pillar on ``node``; the pillar root to hand to ``salt-call``."""
    root = pillar_root(salt_tree)
    sls, top = posixpath.join(root, f"{PILLAR_SLS}.sls"), posixpath.join(root, "top.sls")
    await pool.run(node, _write_command(sls), input=pillar_text(token), check=True)
    current = await pool.run(node, f"sudo cat {shlex.quote(top)}")
    try:
        text = top_text(current.stdout if current.ok else None, top)
    except ValueError as exc:
        raise NodeError(node.name, str(exc)) from None
    if text is not None:
        await pool.run(node, _write_command(top), input=text, check=True)
    return root


def pillar_root_option(root: str) -> str:
    """``--pillar-root=DIR`` unless it is Salt's default (a minion config's roots stay)."""
    return "" if root == SALT_DEFAULT_PILLAR_ROOT else f" --pillar-root={shlex.quote(root)}"
