"""The local state dir of one cluster: what the workbench learns and must keep.

Layout::

    cluster-token          the kubelet token, generated once (0600)
    host-keys.json         {instance id: {"name", "keys": [openssh public keys]}}
    manifests/<node>.json  the last push manifest per node
    history.json           build and pipeline durations
    workbench.log          every log line (redacted)

Every write is atomic (temp file in the same dir, fsync, rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from workbench.errors import StateError
from workbench.redact import REDACTOR


def atomic_write(path: Path, data: bytes | str, *, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half;
    ``durable`` (the default) fsyncs it first, so a power loss leaves the old or the new too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure(self) -> StateDir:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    # -- json helpers ---------------------------------------------------------------
    def read_json(self, name: str, default: Any) -> Any:
        path = self.root / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return default
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: unreadable state file ({exc}); move it away to reset") from None

    def write_json(self, name: str, value: Any, *, mode: int = 0o644, durable: bool = True) -> None:
        atomic_write(self.root / name, json.dumps(value, indent=2, sort_keys=True) + "\n", mode=mode,
                     durable=durable)

    # -- cluster token ----------------------------------------------------------------
    def cluster_token(self) -> str:
        """The kubelet token for this cluster, generated on first use and kept forever."""
        return self.kept_token("cluster-token")

    def kept_token(self, name: str) -> str:
        """A token kept 0600 in ``name``: made on first use, never minted again."""
        path = self.root / name
        try:
            token = path.read_text().strip()
        except FileNotFoundError:
            token = ""
        if not token:
            token = secrets.token_hex(16)
            atomic_write(path, token + "\n", mode=0o600)
        REDACTOR.add(token)
        return token

    def adopt_cluster_token(self, token: str) -> None:
        """Keep ``token`` as the cluster's kubelet token (the master's, after a token fix)."""
        REDACTOR.add(token)
        atomic_write(self.root / "cluster-token", token + "\n", mode=0o600)

    # -- host keys ------------------------------------------------------------------
    def host_keys(self) -> dict[str, dict[str, Any]]:
        value = self.read_json("host-keys.json", {})
        return value if isinstance(value, dict) else {}

    def pin_host_keys(self, instance_id: str, name: str, keys: list[str]) -> None:
        pinned = self.host_keys()
        pinned[instance_id] = {"name": name, "keys": sorted(set(keys))}
        self.write_json("host-keys.json", pinned)

    def forget_host_keys(self, instance_id: str) -> None:
        pinned = self.host_keys()
        if pinned.pop(instance_id, None) is not None:
            self.write_json("host-keys.json", pinned)

    # -- push manifests ---------------------------------------------------------------
    def manifest_path(self, node: str) -> Path:
        return self.root / "manifests" / f"{node}.json"

    # -- history ------------------------------------------------------------------------
    def history(self) -> dict[str, list[dict[str, Any]]]:
        """Durations of earlier runs (ETAs). Written without fsync, so a power loss may leave
        it empty or torn: then it starts over instead of stopping every build and push."""
        try:
            value = self.read_json("history.json", {})
        except StateError:
            return {}
        return value if isinstance(value, dict) else {}

    def append_history(self, kind: str, record: dict[str, Any], *, keep: int = 50) -> None:
        history = self.history()
        records = history.setdefault(kind, [])
        records.append(record)
        del records[:-keep]
        # informational (durations for ETAs): no fsync, which right after a push waits for a
        # journal commit behind the GBs just written (measured 26-63 ms of a 0.6 s push)
        self.write_json("history.json", history, durable=False)

    @property
    def log_path(self) -> Path:
        return self.root / "workbench.log"
