"""The node's "/" when its init runs as real root: overlays over the image, then pivot_root.

Stdlib only (runs as the node's PID 1, in fresh mount/UTS/IPC/PID namespaces made by
util-linux ``unshare``). Each top-level directory the node may write is an overlay whose
lower layers are the image (read-only) and whose upper layer is the node's disk, so a
write lands on that node's disk only; /run and /tmp are tmpfs, fresh at every boot.
"""

from __future__ import annotations

import ctypes
import os

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                   ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or 'bind'} {source} on {target}: {os.strerror(err)}")


def bind(source: str, target: str, *, readonly: bool = False) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        mount("none", target, None, MS_BIND | MS_REC | MS_RDONLY | 32)  # 32: MS_REMOUNT


def overlay(lowers: list[str], upper: str, work: str, target: str) -> None:
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    os.makedirs(target, exist_ok=True)
    data = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    mount("overlay", target, "overlay", 0, data)


def pivot(new_root: str) -> None:
    """Make ``new_root`` "/" and drop the workstation's root from this mount namespace."""
    old = os.path.join(new_root, ".oldroot")
    os.makedirs(old, exist_ok=True)
    if _libc.syscall(155, new_root.encode(), old.encode()) != 0:  # SYS_pivot_root (x86_64)
        os.chroot(new_root)
        os.chdir("/")
        return
    os.chdir("/")
    _libc.umount2(b"/.oldroot", MNT_DETACH)
    os.rmdir("/.oldroot")


def build(spec: dict) -> None:
    """Mount the node's tree at spec["mnt"] as spec["layers"] says, then pivot into it."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    top = spec["mnt"]
    os.makedirs(top, exist_ok=True)
    mount("tmpfs", top, "tmpfs", MS_NOSUID, "mode=755")
    for name, target in spec.get("symlinks", {}).items():
        os.symlink(target, os.path.join(top, name))
    for path in ("proc", "dev", "sys", "run", "tmp"):
        os.makedirs(os.path.join(top, path), exist_ok=True)
    mount("tmpfs", top + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    mount("tmpfs", top + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for layer in spec["layers"]:
        where = top + layer["path"]
        if layer["kind"] == "overlay":
            overlay(layer["lowers"], layer["upper"], layer["work"], where)
        else:
            os.makedirs(where, exist_ok=True)
            bind(layer["source"], where, readonly=layer.get("readonly", False))
    mount("proc", top + "/proc", "proc", MS_NOSUID | MS_NODEV)
    bind("/dev", top + "/dev")
    mount("tmpfs", top + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    bind("/sys", top + "/sys", readonly=True)
    pivot(top)
