"""What the build holds: its Kubernetes version and server programs, read from the release tars.

The version is never a setting: it is the one the build wrote, ``kubernetes/version`` in
the server tar (``kube-apiserver.docker_tag`` next to the binaries, or the full
``kubernetes.tar.gz``, where it is missing). Reading a compressed tar means inflating all
of it (seconds for a real 400 MB server tar), so the answer is kept in the state dir per
tar size and mtime.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.state import StateDir

CACHE = "build-info.json"
SERVER_TAR = "kubernetes-server-linux-amd64.tar.gz"
FULL_TAR = "kubernetes.tar.gz"
BIN_PREFIX = "kubernetes/server/bin/"
_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")
#: Minor versions the workbench's own Salt tree provisions (flags from v1.30-v1.32 sources).
SUPPORTED_MINORS = (30, 31, 32, 33)


@dataclass(frozen=True)
class BuildInfo:
    version: str  # v1.32.3, v1.33.0-alpha.1.52+abc, ...
    server_programs: tuple[str, ...]  # names under kubernetes/server/bin/
    server_tar: str  # file name in release-tars
    etcd_tar: str | None = None  # etcd's own release tar placed beside them (etcd-v3.5.16-linux-amd64.tar.gz)

    @property
    def minor(self) -> tuple[int, int]:
        m = _VERSION.match(self.version)
        if m is None:
            raise WorkbenchError(f"{self.server_tar}: version {self.version!r} is not like v1.32.3")
        return int(m.group(1)), int(m.group(2))

    def check_supported(self) -> None:
        """One line naming the versions the workbench's tree knows, when the build is another."""
        major, minor = self.minor
        if major != 1 or minor not in SUPPORTED_MINORS:
            known = ", ".join(f"1.{m}" for m in SUPPORTED_MINORS)
            raise WorkbenchError(
                f"{self.server_tar}: Kubernetes {self.version}; the workbench's Salt tree provisions "
                f"{known} (older trees with cluster/saltbase use their own)")


def read_build_info(kube_root: Path, state: StateDir | None = None) -> BuildInfo:
    tars = Path(kube_root) / "_output" / "release-tars"
    server = tars / SERVER_TAR
    if not server.is_file():
        raise WorkbenchError(f"{server}: no server release tar; build first")
    st = server.stat()
    key = f"{server}:{st.st_size}:{st.st_mtime_ns}"
    etcd = sorted(p.name for p in tars.glob("etcd-v*-linux-amd64.tar.gz"))
    etcd_tar = etcd[-1] if etcd else None
    cache = state.read_json(CACHE, {}) if state is not None else {}
    if isinstance(cache, dict) and cache.get("key") == key:
        return BuildInfo(str(cache["version"]), tuple(cache["programs"]), SERVER_TAR, etcd_tar)
    version, programs = _scan(server)
    if version is None and (tars / FULL_TAR).is_file():
        version, _ = _scan(tars / FULL_TAR, programs=False)
    if version is None:
        raise WorkbenchError(f"{server}: no kubernetes/version or kube-apiserver.docker_tag in it")
    info = BuildInfo(version, tuple(sorted(programs)), SERVER_TAR, etcd_tar)
    if state is not None:
        state.write_json(CACHE, {"key": key, "version": version, "programs": list(info.server_programs)},
                         durable=False)
    return info


def _scan(path: Path, *, programs: bool = True) -> tuple[str | None, list[str]]:
    version: str | None = None
    tag: str | None = None
    names: list[str] = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name == "kubernetes/version" and member.isfile():
                    version = _read(tar, member)
                elif member.name == f"{BIN_PREFIX}kube-apiserver.docker_tag":
                    tag = _read(tar, member)
                elif programs and member.name.startswith(BIN_PREFIX) and member.isfile():
                    name = member.name[len(BIN_PREFIX):]
                    if "/" not in name and "." not in name:
                        names.append(name)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise WorkbenchError(f"{path}: unreadable release tar ({exc})") from None
    return version or tag, names


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    f = tar.extractfile(member)
    return f.read(256).decode("utf-8", "replace").strip() if f is not None else ""
