"""The agent's assembly paths, run as a real local process (same code and protocol as over SSH).

Kernel copy and its read/write fallback give the same bytes; ``fsync`` syncs every file;
a node file edited in place (same size, mtime put back) is no longer trusted; files the
build dropped are pruned, but only those the agent put under the pushed roots.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.push_manifest import ChunkCache, Source, build_manifest
from workbench.engine.push_session import launch_local
from workbench.errors import WorkbenchError

MB = 1 << 20


def binary(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    parts = [rng.randbytes(64 * 1024) if rng.random() < 0.6 else bytes(64 * 1024) for _ in range(size // (64 * 1024))]
    return b"".join(parts)


def edit(data: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(3):
        at = rng.randrange(len(out))
        out[at:at] = rng.randbytes(rng.randint(100, 5000))
        at = rng.randrange(len(out) - 5000)
        del out[at : at + rng.randint(100, 5000)]
    return bytes(out)


async def push_files(files: dict[str, bytes], work: Path, node: Path, roots: tuple[str, ...] = (),
                     **send: Any) -> tuple[dict[str, Any], list[str], int]:
    """Write ``files`` locally and push them to ``node``; (done, stale before prune, pruned)."""
    sources = []
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
        sources.append(Source(work / name, str(node / "dest" / name)))
    manifest = build_manifest(sources, ChunkCache(None))
    session = await launch_local("agent-test", node / "index")
    try:
        changed = await session.check(manifest, [str(node / "dest" / r) for r in roots])
        done: dict[str, Any] = {"ok": True, "stats": {}}
        if changed:
            missing = await session.plan(changed)
            done, _ = await session.send(changed, missing, **send)
        stale = list(session.stale)
        pruned = await session.prune(stale) if stale and done["ok"] else 0
    finally:
        await session.close()
    return done, stale, pruned


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_kernel_copy_and_read_write_fallback_build_the_same_file(tmp_path: Path, verify: str) -> None:
    old = binary(1, 4 * MB)
    new = edit(old, 2)
    for copy in ("auto", "read/write"):
        work, node = tmp_path / copy.replace("/", "-") / "w", tmp_path / copy.replace("/", "-") / "n"
        work.mkdir(parents=True)
        node.mkdir(parents=True)
        await push_files({"kubelet": old}, work, node)
        done, _, _ = await push_files({"kubelet": new}, work, node, copy=copy, verify=verify)
        assert done["ok"], done
        assert (node / "dest" / "kubelet").read_bytes() == new
        stats = done["stats"]
        assert stats["received"] < len(new) // 4  # most of it came from the old file
        if copy == "auto" and hasattr(os, "copy_file_range"):
            assert stats["kernel_copied"] > len(new) // 2 and stats["written"] == 0
        else:
            assert stats["kernel_copied"] == 0 and stats["written"] > len(new) // 2
        # the bytes came over the (authenticated) SSH stream: no run digests; full checks every
        # byte it writes (relayed runs are proven by sha256: test_push_verify, test_push_sshd)
        assert stats["hashed"] == 0
        assert stats["checked"] == (len(new) if verify == "full" else 0)


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_a_local_file_changed_between_plan_and_send_never_lands(tmp_path: Path, verify: str) -> None:
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    old = binary(5, 2 * MB)
    await push_files({"kubelet": old}, work, node)
    new = edit(old, 6)
    (work / "kubelet").write_bytes(new)
    manifest = build_manifest([Source(work / "kubelet", str(node / "dest" / "kubelet"))], ChunkCache(None))
    session = await launch_local("agent-test", node / "index")
    try:
        changed = await session.check(manifest)
        missing = await session.plan(changed)
        other = bytearray(new)  # same size, other bytes: as if a build rewrote it right now
        for at in range(0, len(other), 64 * 1024):
            other[at] ^= 0xFF
        (work / "kubelet").write_bytes(bytes(other))
        # the workstation proves the runs against the chunk table before it sends them
        with pytest.raises(WorkbenchError, match="changed since it was chunked"):
            await session.send(changed, missing, verify=verify)
    finally:
        await session.close()
    assert (node / "dest" / "kubelet").read_bytes() == old
    assert not list((node / "dest").glob(".*.tmp"))


async def test_fsync_option_syncs_every_file_and_default_does_not(tmp_path: Path) -> None:
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    files = {"a.tar.gz": random.randbytes(300_000), "salt/top.sls": b"base: {}\n"}
    done, _, _ = await push_files(files, work, node)
    assert done["ok"] and done["stats"]["fsynced"] == 0
    files = {"a.tar.gz": random.randbytes(300_000), "salt/top.sls": b"base: {'*': []}\n"}
    done, _, _ = await push_files(files, work, node, fsync=True)
    assert done["ok"] and done["stats"]["fsynced"] == 2
    assert all((node / "dest" / k).read_bytes() == v for k, v in files.items())


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_a_node_file_edited_in_place_is_not_trusted(tmp_path: Path, verify: str) -> None:
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    data = binary(3, 2 * MB)
    await push_files({"kube-proxy": data}, work, node)
    target = node / "dest" / "kube-proxy"
    st = target.stat()
    with open(target, "r+b") as f:  # same size, and the mtime put back: only ctime tells
        f.seek(MB)
        f.write(b"\xff" * 4096)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_mtime_ns == st.st_mtime_ns and target.stat().st_size == st.st_size
    done, _, _ = await push_files({"kube-proxy": data}, work, node, verify=verify)
    assert done["ok"] and target.read_bytes() == data


async def test_files_dropped_from_the_build_are_pruned_only_under_the_roots(tmp_path: Path) -> None:
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    build = {"release/a.tar.gz": b"a" * 5000, "release/sub/b.tar.gz": b"b" * 5000, "other/c": b"c"}
    await push_files(build, work, node, roots=("release",))
    mine = node / "dest" / "release" / "notes.txt"
    mine.write_text("put here by a person, not the agent\n")
    del build["release/sub/b.tar.gz"], build["other/c"]
    done, stale, pruned = await push_files(build, work, node, roots=("release",))
    assert done["ok"]
    assert stale == [str(node / "dest" / "release" / "sub" / "b.tar.gz")] and pruned == 1
    assert not (node / "dest" / "release" / "sub").exists()  # emptied directory removed too
    assert mine.exists() and (node / "dest" / "other" / "c").exists()  # not ours / outside the roots
    assert (node / "dest" / "release" / "a.tar.gz").read_bytes() == b"a" * 5000
    again = await push_files(build, work, node, roots=("release",))
    assert again[1:] == ([], 0)
