"""What push.verify proves on the node, with the real agent as a local process.

Both modes prove every byte that travelled (sha256 per run, digests from the workstation);
``full`` also checks a CRC-32 of every byte written against the workstation's, which catches
a wrong assembly that delta, trusting the node's index, cannot see.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.test_push_agent import MB, binary, edit, push_files
from workbench.engine.push import node_agent as agent
from workbench.engine.push.manifest import ChunkCache, LocalFile, Source, build_manifest
from workbench.engine.push.session import launch_local, run_digests


def _scramble_index_table(index: Path, target: Path) -> None:
    """Swap two chunk records of ``target``'s entry: the index now misplaces its chunks, as a
    bug in planning or indexing would; the file's identity (size, mtime, ctime, inode) stays."""
    lines = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    entry = next(e for e in reversed(lines) if e.get("p") == str(target) and not e.get("x"))
    table = bytearray(base64.b64decode(entry["c"]))
    rec = agent.REC
    count = len(table) // rec
    a = next(i for i in range(count) if table[i * rec + 16 : i * rec + rec] != table[rec + 16 : 2 * rec])
    first, other = bytes(table[rec : 2 * rec]), bytes(table[a * rec : (a + 1) * rec])
    table[rec : 2 * rec], table[a * rec : (a + 1) * rec] = other, first  # chunks 1 and a: other lengths
    entry["c"] = base64.b64encode(bytes(table)).decode()
    index.write_text("".join(json.dumps(e) + "\n" for e in lines))


async def test_full_refuses_a_wrong_assembly_and_a_rerun_completes(tmp_path: Path) -> None:
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    old = binary(21, 3 * MB)
    await push_files({"kubelet": old}, work, node)
    target = node / "dest" / "kubelet"
    _scramble_index_table(node / "index", target)
    new = edit(old, 22)
    done, _, _ = await push_files({"kubelet": new}, work, node, verify="full")
    assert not done["ok"]
    assert target.read_bytes() == old  # refused: the old file stays, whole
    assert not [p for p in target.parent.iterdir() if agent.TMP_MARK in p.name]
    done, _, _ = await push_files({"kubelet": new}, work, node, verify="full")
    assert done["ok"] and target.read_bytes() == new  # the lying entry was dropped: resent


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_both_modes_prove_the_bytes_that_travelled(tmp_path: Path, verify: str) -> None:
    """A run whose bytes differ from the workstation's sha256 is refused (the digests
    travel over SSH; the bytes may come over the unauthenticated relay stream)."""
    work, node = tmp_path / "w", tmp_path / "n"
    work.mkdir()
    node.mkdir()
    old = binary(23, 2 * MB)
    await push_files({"kube-proxy": old}, work, node)
    new = edit(old, 24)
    (work / "kube-proxy").write_bytes(new)
    manifest = build_manifest([Source(work / "kube-proxy", str(node / "dest" / "kube-proxy"))], ChunkCache(None))
    session = await launch_local("agent-test", node / "index")
    try:
        changed = await session.check(manifest)
        missing = await session.plan(changed)
        runs = run_digests(changed, missing)
        runs[0][0] = "0" * 64  # what the node will compare the first run against
        msg = {"op": "send", "source": "stdin", "verify": verify, "runs": runs}
        session._send(agent.J, json.dumps(msg).encode())
        data = b"".join(_run_bytes(work / "kube-proxy", changed[0], missing[0]))
        session._send(agent.D, data)
        await session._writer.drain()
        done = await session._next("done")
    finally:
        await session.close()
    assert not done["ok"]
    assert (node / "dest" / "kube-proxy").read_bytes() == old


def _run_bytes(path: Path, f: LocalFile, runs: list[tuple[int, int]]) -> Iterator[bytes]:
    starts = [0]
    for _, _, n in f.chunks():
        starts.append(starts[-1] + n)
    data = path.read_bytes()
    for first, count in runs:
        yield data[starts[first] : starts[first + count]]
