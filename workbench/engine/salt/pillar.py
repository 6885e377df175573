"""The cluster's pillar: 0600 files in the node's pillar root, never on a command line.

``salt-call ... pillar='{...}'`` puts secrets in the process table, readable by every user
on the node (``ps``). Real Salt reads pillar from ``pillar_roots``. Provisioning
(``engine/provision``) is the one writer of a node's pillar and its ``top.sls``, for both
trees: it writes the minion config that names the pillar root, so a state run only checks
that config is there (``provisioned_pillar_root``) and passes no ``--pillar-root``.

``pillar_text``/``top_text`` are the older way (a ``workbench.sls`` added to a top file by
the runner); no run path uses them any more.
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


MINION_CONF = "/etc/salt/minion.d/workbench.conf"  # engine/provision/bundle.py writes it


async def provisioned_pillar_root(pool: SSHPool, node: NodeLike) -> str:
    """The pillar root ``salt-call`` should get: Salt's default, so the minion config's
    ``pillar_roots`` applies; NodeError when provisioning has not written that config."""
    found = await pool.run(node, f"test -f {shlex.quote(MINION_CONF)}")
    if not found.ok:
        raise NodeError(node.name, f"{MINION_CONF} is missing: the node is not provisioned "
                        "(`workbench salt` provisions it first)")
    return SALT_DEFAULT_PILLAR_ROOT


def pillar_root_option(root: str) -> str:
    """``--pillar-root=DIR`` unless it is Salt's default (a minion config's roots stay)."""
    return "" if root == SALT_DEFAULT_PILLAR_ROOT else f" --pillar-root={shlex.quote(root)}"
