"""The agent's assembly paths, run as a real local process (same code and protocol as over SSH).

Kernel copy, the checked copy from a mapping and the read/write fallback give the same
bytes; after a reboot, a file whose data never reached the disk is found and sent again; ``fsync`` syncs every file;
a node file edited in place (same size, mtime put back) is no longer trusted; files the
build dropped are pruned, but only those the agent put under the pushed roots.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.push.manifest import ChunkCache, Source, build_manifest
from workbench.engine.push.session import launch_local
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


def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """The workstation's side and the node's, empty."""
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    return work, node


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
        # full checks every old byte as it writes it, from the old file's mapping; delta trusts
        # them and lets the kernel copy; read/write is the fallback for either
        path = "written" if copy == "read/write" else "mapped" if verify == "full" else "kernel_copied"
        if path == "kernel_copied" and not hasattr(os, "copy_file_range"):
            path = "written"
        assert stats[path] > len(new) // 2
        assert all(stats[k] == 0 for k in ("kernel_copied", "mapped", "written") if k != path), stats
        assert stats["preallocated"] == 1  # the temp file was allocated whole first
        # the bytes came over the (authenticated) SSH stream: no run digests; full checks every
        # byte it writes (relayed runs are proven by sha256: test_push_verify, test_push_sshd)
        assert stats["hashed"] == 0
        assert stats["checked"] == (len(new) if verify == "full" else 0)


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_a_local_file_changed_between_plan_and_send_never_lands(tmp_path: Path, verify: str) -> None:
    work, node = dirs(tmp_path)
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
    work, node = dirs(tmp_path)
    files = {"a.tar.gz": random.randbytes(300_000), "salt/top.sls": b"base: {}\n"}
    done, _, _ = await push_files(files, work, node)
    assert done["ok"] and done["stats"]["fsynced"] == 0
    files = {"a.tar.gz": random.randbytes(300_000), "salt/top.sls": b"base: {'*': []}\n"}
    done, _, _ = await push_files(files, work, node, fsync=True)
    assert done["ok"] and done["stats"]["fsynced"] == 2
    assert all((node / "dest" / k).read_bytes() == v for k, v in files.items())


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_a_node_file_edited_in_place_is_not_trusted(tmp_path: Path, verify: str) -> None:
    work, node = dirs(tmp_path)
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
    work, node = dirs(tmp_path)
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


def rewrite_index(index: Path, change: Any) -> None:
    """Apply ``change`` to every entry of the agent's index (a JSON-lines journal)."""
    entries = [json.loads(line) for line in index.read_text().splitlines()]
    index.write_text("".join(json.dumps(change(e)) + "\n" for e in entries))


async def test_after_a_reboot_a_file_whose_data_was_lost_is_sent_again(tmp_path: Path) -> None:
    """Power loss after a push: the name, size and stat identity are the new file's, but its
    preallocated blocks read as zeros. The index entry is from another boot and was never
    known to be on disk, so the next agent checks its CRC once, drops it and the push resends."""
    work, node = dirs(tmp_path)
    lost, kept = binary(7, 2 * MB), binary(8, 2 * MB)
    done, _, _ = await push_files({"kubelet": lost, "kube-proxy": kept}, work, node)
    assert done["ok"] and done["stats"]["preallocated"] == 2
    target = node / "dest" / "kubelet"
    st = target.stat()
    with open(target, "r+b") as f:  # what the disk holds: zeros, same identity
        f.write(bytes(len(lost)))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    rewrite_index(node / "index", lambda e: dict(e, b="an-earlier-boot", t=os.stat(e["p"]).st_ctime_ns))
    done, _, _ = await push_files({"kubelet": lost, "kube-proxy": kept}, work, node)
    assert done["ok"] and done["stats"]["received"] > 0
    assert target.read_bytes() == lost and (node / "dest" / "kube-proxy").read_bytes() == kept
    # the intact one was confirmed by its CRC and kept: nothing of it travelled
    entries = {Path(e["p"]).name: e for e in map(json.loads, (node / "index").read_text().splitlines())}
    assert entries["kube-proxy"]["f"] == 1
    assert (await push_files({"kubelet": lost, "kube-proxy": kept}, work, node))[0]["stats"] == {}


async def test_files_written_a_while_ago_are_made_sure_on_disk_by_a_later_push(tmp_path: Path) -> None:
    work, node = dirs(tmp_path)
    files = {"kubelet": binary(9, MB), "salt/top.sls": b"base: {}\n"}
    await push_files(files, work, node)
    index = node / "index"
    assert all("f" not in e for e in map(json.loads, index.read_text().splitlines()))
    rewrite_index(index, lambda e: dict(e, w=e["w"] - 120))  # as if pushed two minutes ago
    await push_files(files, work, node)  # nothing changed: the agent only checks, and flushes
    latest: dict[str, Any] = {}
    for line in index.read_text().splitlines():
        e = json.loads(line)
        latest[e["p"]] = e
    assert sorted(e.get("f") for e in latest.values()) == [1, 1]


@pytest.mark.parametrize(("verify", "preallocate"), [("full", True), ("full", False), ("delta", False)])
async def test_a_node_out_of_space_fails_that_file_alone_and_the_rest_lands(
        tmp_path: Path, verify: str, preallocate: bool) -> None:
    """A file that cannot fit fails: at once, nothing of it written, where the temp file is
    allocated whole first; else at the write that fails. Either way its bytes are still read
    off the stream, so the next file lands intact (delta trusts the stream's bytes: a stream
    out of step would land another file's bytes). The limit is RLIMIT_FSIZE (EFBIG, as ENOSPC)."""
    work, node = dirs(tmp_path)
    big, small = binary(10, 2 * MB), random.randbytes(200_000)
    await push_files({"kubelet": big, "salt/top.sls": small}, work, node)
    limited = tmp_path / "python3-limited"
    limited.write_text(
        "#!/usr/bin/env python3\n"
        "import os, resource, signal, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({MB}, {MB}))\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored stays ignored across exec\n"
        "os.execvp('python3', ['python3', *sys.argv[1:]])\n")
    limited.chmod(0o755)
    # all new bytes: what fails is the write of received bytes, past the limit (a failed copy
    # of old runs was already handled)
    new_big, new_small = random.randbytes(2 * MB), random.randbytes(200_000)
    for name, data in (("kubelet", new_big), ("salt/top.sls", new_small)):
        (work / name).write_bytes(data)
    sources = [Source(work / n, str(node / "dest" / n)) for n in ("kubelet", "salt/top.sls")]
    manifest = build_manifest(sources, ChunkCache(None))
    session = await launch_local("agent-test", node / "index", python=str(limited))
    files: list[dict[str, Any]] = []
    session.on_file = files.append
    try:
        changed = await session.check(manifest)
        assert [f.dest for f in changed] == [s.dest for s in sources]
        missing = await session.plan(changed)
        done, _ = await session.send(changed, missing, verify=verify, preallocate=preallocate)
    finally:
        await session.close()
    assert not done["ok"] and done["files"] == 1
    failed = [f for f in files if not f["ok"]]
    assert [f["path"] for f in failed] == [sources[0].dest]
    assert "File too large" in failed[0]["error"]
    assert ("(preallocating" in failed[0]["error"]) == preallocate
    assert (node / "dest" / "kubelet").read_bytes() == big  # old, untouched
    assert (node / "dest" / "salt" / "top.sls").read_bytes() == new_small  # new, intact
    assert not list((node / "dest").rglob(".*.tmp"))


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_the_pages_of_a_replaced_file_go_back_as_it_is_copied_only_when_clean(tmp_path: Path, verify: str) -> None:
    """The old version of a file is garbage once copied: its page cache is given back during
    the copy (the new file reuses it), unless dirty, which would first force a writeback."""
    from workbench.engine.push.node_agent import dirty_pages

    work, node = dirs(tmp_path)
    old = binary(12, 8 * MB)
    await push_files({"kubelet": old}, work, node)
    target = node / "dest" / "kubelet"
    fd = os.open(target, os.O_RDONLY)
    try:
        dirty = dirty_pages(fd)
        if dirty is None:
            pytest.skip("this kernel cannot tell dirty pages (cachestat, Linux >= 6.5)")
        new = edit(old, 13)
        if dirty:  # just written: still dirty, so kept
            done, _, _ = await push_files({"kubelet": new}, work, node, verify=verify)
            assert done["ok"] and target.read_bytes() == new
            assert done["stats"]["released"] == 0
            old, new = new, edit(new, 14)
    finally:
        os.close(fd)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)  # on disk: its pages are clean now
        assert dirty_pages(fd) == 0
    finally:
        os.close(fd)
    done, _, _ = await push_files({"kubelet": new}, work, node, verify=verify)
    assert done["ok"] and target.read_bytes() == new
    assert done["stats"]["released"] > len(old) // 2


def test_release_limits_keep_what_a_later_op_reads() -> None:
    """A chunk repeated in a file is copied from its first place each time: nothing below a
    place some later op still reads is given back; files this push doesn't replace never."""
    from workbench.engine.push.node_agent import release_limits

    inf = float("inf")
    a_ops = [["old", "/a", 0, 100], ["recv", 10, []], ["old", "/a", 500, 100], ["old", "/a", 0, 50]]
    b_ops = [["old", "/a", 200, 10], ["old", "/c", 0, 10], ["old", "/b", 0, 5]]
    plan = [("/a", "d", 0, 0o644, b"", a_ops), ("/b", "d", 0, 0o644, b"", b_ops)]
    release_limits(plan)
    assert [op[4] for op in a_ops if op[0] == "old"] == [0, 0, 200]  # /a at 0 is read again
    assert b_ops[0][4] == inf and b_ops[2][4] == inf  # nothing reads /a or /b after these
    assert len(b_ops[1]) == 4  # /c is not replaced by this push: never given back


async def test_the_agent_starts_without_site_and_still_finds_zstandard(tmp_path: Path) -> None:
    """It runs with -S (no site start-up); zstandard, where the node has it (this venv's
    python does), is still found, and compressible new bytes travel as zstd frames."""
    import sys

    work, node = dirs(tmp_path)
    text = b"".join(b"kube-apiserver flag --v=%d\n" % i for i in range(200_000))  # compresses well
    (work / "apiserver.log").write_bytes(text)
    manifest = build_manifest([Source(work / "apiserver.log", str(node / "apiserver.log"))], ChunkCache(None))
    session = await launch_local("agent-test", node / "index", python=sys.executable)
    try:
        assert "zstd" in session.codecs
        changed = await session.check(manifest)
        done, sent = await session.send(changed, await session.plan(changed))
    finally:
        await session.close()
    assert done["ok"] and (node / "apiserver.log").read_bytes() == text
    assert sent < len(text) // 10
