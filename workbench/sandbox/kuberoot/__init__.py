"""The sandbox's fake KUBE_ROOT: a build script, a salt tree, optional Vagrant leftovers.

``write_kube_root(path)`` copies the template (``build/release.sh``, ``cluster/saltbase``)
and writes ``build/fake-build.json`` with the binary size, seed and build time the fake
build uses. An existing ``_output`` is kept, so rebuilds stay rebuilds.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

TEMPLATE = Path(__file__).parent / "template"
DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "darwin/amd64", "windows/amd64")


def write_kube_root(
    path: str | Path,
    *,
    size_mb: float = 24.0,
    binary_mb: float | None = None,
    build_seconds: float = 3.0,
    seed: str | None = None,
    version: str = "v1.2.0-alpha.6",
) -> Path:
    """Write (or refresh) a fake KUBE_ROOT at ``path``; returns it.

    ``size_mb`` (alias ``binary_mb``) is the size of one linux platform's binaries.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for src in TEMPLATE.rglob("*"):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        dest = root / src.relative_to(TEMPLATE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    (root / "build" / "release.sh").chmod(0o755)
    config_path = root / "build" / "fake-build.json"
    old: dict[str, object] = {}
    if config_path.exists():
        try:
            old = json.loads(config_path.read_text())
        except ValueError:
            old = {}
    config = {
        "binary_mb": float(binary_mb if binary_mb is not None else size_mb),
        "seconds": float(build_seconds),
        "seed": seed or str(old.get("seed") or secrets.token_hex(8)),
        "version": version,
    }
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return root


def set_build_failure(root: str | Path, fail: bool = True) -> None:
    """Make the next fake builds fail in the go build (a compile error), or stop that."""
    flag = Path(root) / "build" / ".fake-build-fail"
    if fail:
        flag.touch()
    else:
        flag.unlink(missing_ok=True)


def add_vagrant_machine(root: str | Path, name: str, server_id: str) -> Path:
    """Leave ``.vagrant/machines/<name>/openstack/id`` as an earlier Vagrant run did."""
    machine = Path(root) / ".vagrant" / "machines" / name / "openstack"
    machine.mkdir(parents=True, exist_ok=True)
    (machine / "id").write_text(server_id)
    (machine / "index_uuid").write_text(secrets.token_hex(16))
    (machine / "synced_folders").write_text('{"rsync":{}}')
    return machine.parent


__all__ = ["DEFAULT_PLATFORMS", "add_vagrant_machine", "set_build_failure", "write_kube_root"]
