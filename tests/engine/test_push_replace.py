"""How the agent puts a proven file in place: swapped in (renameat2 RENAME_EXCHANGE, then
the old file unlinked) where the kernel can, renamed over the path where it cannot. Either
way a reader sees the whole old file or the whole new one, and nothing is left behind.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from tests.engine.test_push_agent import MB, binary, edit, push_files
from workbench.engine.push import node_agent as agent

needs_exchange = pytest.mark.skipif(agent.libc_renameat2() is None, reason="no renameat2 here")


def _files(d: Path, old: bytes, new: bytes) -> tuple[Path, Path]:
    path, tmp = d / "kubelet", d / ".kubelet.wbpush-1.tmp"
    path.write_bytes(old)
    tmp.write_bytes(new)
    return path, tmp


def _readers_see_old_or_new(path: Path, old: bytes, new: bytes, swaps: int, put) -> None:
    """Swap ``swaps`` times while a thread reads ``path`` whole: every read is old or new."""
    seen: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                with open(path, "rb") as f:
                    seen.append(f.read())
            except FileNotFoundError:  # a moment without the file is a failure too
                seen.append(b"missing")

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(swaps):
            tmp = path.with_name(f".kubelet.wbpush-{i}.tmp")
            tmp.write_bytes(new if i % 2 == 0 else old)
            put(str(tmp), str(path))
            assert not tmp.exists()
    finally:
        stop.set()
        thread.join()
    assert seen and all(s in (old, new) for s in seen)


@needs_exchange
def test_exchange_swaps_in_the_new_file_and_unlinks_the_old(tmp_path: Path) -> None:
    old, new = b"old " * 50_000, b"new!" * 60_000
    path, tmp = _files(tmp_path, old, new)
    held = os.open(path, os.O_RDONLY)  # the relay may still read the old inode
    try:
        assert agent.Replacer().put(str(tmp), str(path)) == "exchange"
        assert path.read_bytes() == new and not tmp.exists()
        assert os.pread(held, len(old) + 1, 0) == old
    finally:
        os.close(held)
    _readers_see_old_or_new(path, old, new, 200, agent.Replacer().put)


@needs_exchange
def test_exchange_with_nothing_there_yet_renames(tmp_path: Path) -> None:
    tmp = tmp_path / ".a.wbpush-1.tmp"
    tmp.write_bytes(b"first")
    assert agent.Replacer().put(str(tmp), str(tmp_path / "a")) == "rename"
    assert (tmp_path / "a").read_bytes() == b"first" and not tmp.exists()


def test_a_directory_in_the_way_is_an_error_and_both_stay(tmp_path: Path) -> None:
    (tmp_path / "kubelet").mkdir()
    tmp = tmp_path / ".kubelet.wbpush-1.tmp"
    tmp.write_bytes(b"new")
    with pytest.raises(IsADirectoryError):
        agent.Replacer().put(str(tmp), str(tmp_path / "kubelet"))
    assert (tmp_path / "kubelet").is_dir() and tmp.read_bytes() == b"new"


def test_without_exchange_it_renames_and_keeps_old_or_new(tmp_path: Path) -> None:
    old, new = b"o" * 300_000, b"n" * 200_000
    path, tmp = _files(tmp_path, old, new)
    replacer = agent.Replacer(exchange=None)  # not Linux, or glibc without renameat2
    assert replacer.put(str(tmp), str(path)) == "rename"
    assert path.read_bytes() == new and not tmp.exists()
    _readers_see_old_or_new(path, old, new, 200, replacer.put)


def test_a_filesystem_refusing_exchange_falls_back_to_rename_for_good(tmp_path: Path) -> None:
    calls: list[bytes] = []

    def refuses(a: bytes, b: bytes) -> int:  # what renameat2 answers on such a filesystem
        calls.append(b)
        return errno.EINVAL

    old, new = b"o" * 1000, b"n" * 2000
    path, tmp = _files(tmp_path, old, new)
    replacer = agent.Replacer(exchange=refuses)
    assert replacer.put(str(tmp), str(path)) == "rename"
    assert path.read_bytes() == new and not tmp.exists()
    tmp.write_bytes(old)
    assert replacer.put(str(tmp), str(path)) == "rename" and len(calls) == 1  # not asked again
    assert path.read_bytes() == old


@pytest.mark.parametrize("replace", ["auto", "rename"])
@pytest.mark.parametrize("fsync", [False, True])
async def test_a_push_replaces_every_file_either_way(tmp_path: Path, replace: str, fsync: bool) -> None:
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    old = {"kubelet": binary(11, 2 * MB), "salt/top.sls": b"base: {}\n"}
    await push_files(old, work, node)
    new = {"kubelet": edit(old["kubelet"], 12), "salt/top.sls": b"base: {'*': []}\n"}
    done, _, _ = await push_files(new, work, node, replace=replace, fsync=fsync)
    assert done["ok"], done
    assert all((node / "dest" / k).read_bytes() == v for k, v in new.items())
    stats = done["stats"]
    swapped = replace == "auto" and agent.libc_renameat2() is not None
    assert (stats["exchanged"], stats["renamed"]) == ((2, 0) if swapped else (0, 2))
    assert stats["fsynced"] == (2 if fsync else 0)
    leftovers = [p for p in (node / "dest").rglob("*") if agent.TMP_MARK in p.name]
    assert not leftovers


async def test_an_old_file_left_under_a_temp_name_is_cleaned_by_the_next_push(tmp_path: Path) -> None:
    """A crash between the swap and the unlink leaves the old file under the temp name."""
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    await push_files({"kubelet": b"v1" * 1000}, work, node)
    orphan = node / "dest" / f".kubelet{agent.TMP_MARK}4242.tmp"
    orphan.write_bytes(b"v0" * 1000)
    await push_files({"kubelet": b"v2" * 1000}, work, node)
    assert not orphan.exists() and (node / "dest" / "kubelet").read_bytes() == b"v2" * 1000


def test_another_exchange_error_renames_this_file_and_tries_again_next_time(tmp_path: Path) -> None:
    calls: list[bytes] = []

    def busy(a: bytes, b: bytes) -> int:
        calls.append(b)
        return errno.EPERM

    path, tmp = _files(tmp_path, b"old", b"new")
    replacer = agent.Replacer(exchange=busy)
    assert replacer.put(str(tmp), str(path)) == "rename" and path.read_bytes() == b"new"
    tmp.write_bytes(b"newer")
    assert replacer.put(str(tmp), str(path)) == "rename" and path.read_bytes() == b"newer"
    assert len(calls) == 2 and not tmp.exists()


async def test_by_default_a_push_renames_over_the_old_file_like_rsync(tmp_path: Path) -> None:
    """ext4 guards replace-by-rename on power loss; the swap is opt-in (profile push.swap)."""
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    old = {"kubelet": binary(13, MB)}
    await push_files(old, work, node)
    done, _, _ = await push_files({"kubelet": edit(old["kubelet"], 14)}, work, node)
    assert done["ok"], done
    assert (done["stats"]["exchanged"], done["stats"]["renamed"]) == (0, 1)
