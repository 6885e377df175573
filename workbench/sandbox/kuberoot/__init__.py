"""The sandbox's fake KUBE_ROOT: a build script, the programs it builds, optional Vagrant leftovers.

``write_kube_root(path, version=...)`` copies the template (``build/release.sh``; for a
seed-era version, before 1.10, also ``cluster/saltbase``), the programs the fake build turns
into "binaries" (``build/fake-programs``: ``programs/`` here plus the two stdlib modules of
``sandbox/kube`` they reuse) and writes ``build/fake-build.json`` with the binary size, seed,
build time and version. An existing ``_output`` is kept, so rebuilds stay rebuilds.

The sandbox still writes a seed-era root (``SEED_VERSION``): its simulated Salt installs
from the salt tar. The default of ``write_kube_root`` is ``CURRENT_VERSION``.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

TEMPLATE = Path(__file__).parent / "template"
PROGRAMS = Path(__file__).parent / "programs"
CURRENT_VERSION = "v1.32.4"
SEED_VERSION = "v1.2.0-alpha.6"
DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "darwin/amd64", "windows/amd64")


def write_kube_root(
    path: str | Path,
    *,
    size_mb: float = 24.0,
    binary_mb: float | None = None,
    build_seconds: float = 3.0,
    seed: str | None = None,
    version: str = CURRENT_VERSION,
) -> Path:
    """Write (or refresh) a fake KUBE_ROOT at ``path``; returns it.

    ``size_mb`` (alias ``binary_mb``) is the size of one linux platform's binaries.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    seed_era = is_seed_era(version)
    for src in TEMPLATE.rglob("*"):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        rel = src.relative_to(TEMPLATE)
        if rel.parts[0] == "cluster" and not seed_era:
            continue
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    _copy_programs(root / "build" / "fake-programs")
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


def is_seed_era(version: str) -> bool:
    """Kubernetes before 1.10 shipped cluster/saltbase and the salt tar."""
    major, minor = (int(x) for x in version.lstrip("v").split("-")[0].split(".")[:2])
    return (major, minor) < (1, 10)


def _copy_programs(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    for src in PROGRAMS.rglob("*"):
        if src.is_file() and "__pycache__" not in src.parts and src.suffix in (".py", ".json"):
            if src.name == "__init__.py" and src.parent == PROGRAMS:
                continue
            target = dest / src.relative_to(PROGRAMS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)


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


__all__ = ["CURRENT_VERSION", "DEFAULT_PLATFORMS", "SEED_VERSION", "add_vagrant_machine", "is_seed_era", "set_build_failure", "write_kube_root"]
