"""Delta push against real OpenSSH sshd nodes on loopback: direct, relay, rebuild, kill."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from workbench.engine.push.runner import push
from workbench.events import Bus, Event, StageFinished, StageProgress
from workbench.profile import ClusterSection, KubeSection, PathsSection, Profile, SSHSection
from workbench.state import StateDir

from .test_push_sshd import SSHDNode, connections, needs_sshd, sshd_nodes

__all__ = ["connections", "sshd_nodes"]
pytestmark = needs_sshd
MB = 1 << 20


def make_kube_root(root: Path, seed: int = 1, size: int = 8 * MB) -> None:
    """A small KUBE_ROOT: tars for two platforms, a generic tar, release-stage, a salt tree."""
    rng = random.Random(seed)
    tars = root / "_output" / "release-tars"
    tars.mkdir(parents=True)
    for name in ("kubernetes-server-linux-amd64.tar.gz", "kubernetes-node-linux-amd64.tar.gz",
                 "kubernetes-server-linux-arm.tar.gz", "kubernetes-salt.tar.gz", "kubernetes-src.tar.gz"):
        (tars / name).write_bytes(rng.randbytes(size // 4) + bytes(size // 8) + rng.randbytes(size // 8))
    stage = root / "_output" / "release-stage"
    stage.mkdir(parents=True)
    (stage / "huge").write_bytes(b"x" * MB)
    salt = root / "cluster" / "saltbase" / "salt"
    for sub in ("kubelet", "kube-apiserver"):
        (salt / sub).mkdir(parents=True)
        (salt / sub / "init.sls").write_text(f"{sub}:\n  service.running: []\n")
    (salt / "top.sls").write_text("base:\n  '*':\n    - kubelet\n")


def rebuild(path: Path, seed: int) -> None:
    """Edit a binary the way a rebuild does: inserts, deletes and overwrites of a few KiB."""
    rng = random.Random(seed)
    data = bytearray(path.read_bytes())
    for _ in range(3):
        at = rng.randrange(len(data))
        data[at:at] = rng.randbytes(rng.randint(1000, 8000))
        at = rng.randrange(len(data) - 9000)
        del data[at : at + rng.randint(1000, 8000)]
        at = rng.randrange(len(data) - 4096)
        data[at : at + 4096] = rng.randbytes(4096)
    path.write_bytes(bytes(data))


def profile_for(kube_root: Path, nodes: list[SSHDNode], tmp: Path) -> Profile:
    return Profile(
        cluster=ClusterSection(name="kubernetes", minions=len(nodes) - 1, master_ip=nodes[0].address),
        ssh=SSHSection(user="root"),
        kube=KubeSection(root=kube_root),
        paths=PathsSection(release_dir=str(tmp / "srv/kube-release"), salt_tree=str(tmp / "srv/salt")),
    )


def per_node(profile: Profile, node: SSHDNode) -> Profile:
    """Each node writes under its own HOME: the sshd nodes share one real filesystem."""
    return replace(profile, paths=replace(
        profile.paths, release_dir=f"{node.home}/srv/kube-release", salt_tree=f"{node.home}/srv/salt"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected(kube_root: Path) -> dict[str, str]:
    tars = kube_root / "_output" / "release-tars"
    out = {f"srv/kube-release/{n}": sha(tars / n) for n in (
        "kubernetes-server-linux-amd64.tar.gz", "kubernetes-node-linux-amd64.tar.gz", "kubernetes-salt.tar.gz")}
    salt = kube_root / "cluster" / "saltbase" / "salt"
    out |= {f"srv/salt/{p.relative_to(salt)}": sha(p) for p in salt.rglob("*") if p.is_file()}
    return out


def node_files(home: Path) -> dict[str, str]:
    srv = home / "srv"
    return {str(p.relative_to(home)): sha(p) for p in srv.rglob("*") if p.is_file()} if srv.exists() else {}


def relative_paths(profile: Profile) -> Profile:
    """Paths relative to the login directory (HOME): every node writes into its own."""
    return replace(profile, paths=replace(profile.paths, release_dir="srv/kube-release", salt_tree="srv/salt"))


@pytest.fixture
def kube_root(tmp_path: Path) -> Path:
    root = tmp_path / "kube-root"
    make_kube_root(root)
    return root


async def test_direct_push_sends_what_nodes_need_and_then_nothing(
    kube_root: Path, sshd_nodes: list[SSHDNode], connections: dict[str, asyncssh.SSHClientConnection],
    tmp_path: Path,
) -> None:
    profile = relative_paths(profile_for(kube_root, sshd_nodes, tmp_path))
    state = StateDir(tmp_path / "state")
    targets = {n: (None, c) for n, c in connections.items()}
    seen: list[Event] = []
    bus = Bus()
    bus.add_listener(seen.append)
    report = await push(profile, state, targets, bus=bus, direct=True)
    assert report.ok, report
    want = expected(kube_root)
    for node in sshd_nodes:
        assert node_files(node.home) == want  # no arm tar, no src tar, no release-stage
    tree = sum((kube_root / "_output/release-tars" / Path(k).name).stat().st_size
               for k in want if k.startswith("srv/kube-release"))
    assert report.bytes_from_workstation < 3 * tree  # compressed where it paid
    finished = [e for e in seen if isinstance(e, StageFinished)]
    assert {e.node for e in finished} == set(connections) and all(e.ok for e in finished)
    assert any(isinstance(e, StageProgress) and e.total for e in seen)
    assert state.manifest_path("kubernetes-master").exists()

    t0 = time.perf_counter()
    again = await push(profile, state, targets, bus=Bus(), direct=True)
    elapsed = time.perf_counter() - t0
    print(f"no-change push to 3 nodes: {elapsed:.3f} s")
    assert again.ok and all(n.files_changed == 0 and n.bytes_sent == 0 for n in again.nodes)


@pytest.mark.parametrize("verify", ["full", "delta"])
async def test_relay_push_of_a_rebuild_sends_a_small_fraction_once(
    kube_root: Path, sshd_nodes: list[SSHDNode], connections: dict[str, asyncssh.SSHClientConnection],
    tmp_path: Path, verify: str,
) -> None:
    profile = relative_paths(profile_for(kube_root, sshd_nodes, tmp_path))
    profile = replace(profile, push=replace(profile.push, verify=verify))
    state = StateDir(tmp_path / "state")
    targets = {n: (None, c) for n, c in connections.items()}
    first = await push(profile, state, targets, bus=Bus())
    assert first.ok, first
    vias = {n.name: n.via for n in first.nodes}
    assert vias["kubernetes-master"] == "direct" and vias["kubernetes-minion-1"] == "relay"

    tars = kube_root / "_output" / "release-tars"
    rebuild(tars / "kubernetes-server-linux-amd64.tar.gz", 7)
    rebuild(tars / "kubernetes-node-linux-amd64.tar.gz", 8)
    tree = sum(p.stat().st_size for p in tars.glob("*linux-amd64*")) + (tars / "kubernetes-salt.tar.gz").stat().st_size
    second = await push(profile, state, targets, bus=Bus())
    assert second.ok, second
    for node in sshd_nodes:
        assert node_files(node.home) == expected(kube_root)
    master = next(n for n in second.nodes if n.name == "kubernetes-master")
    assert master.files_changed == 2
    assert 0 < master.bytes_sent < 0.05 * tree
    # the workstation's uplink carried the change once: minions got theirs from the master
    assert second.bytes_from_workstation < 1.5 * master.bytes_sent + 64 * 1024
    assert all(n.via == "relay" and n.bytes_sent > 0 for n in second.nodes if n.name != "kubernetes-master")
    # relayed bytes (plain TCP) are proven run by run with sha256; the master's came over SSH
    assert all(n.phases["agent_hashed"] == n.phases["agent_received"] > 0
               for n in second.nodes if n.name != "kubernetes-master")
    assert master.phases["agent_hashed"] == 0 and master.phases["agent_received"] > 0


async def test_a_connection_killed_mid_push_leaves_old_or_new_files_and_a_rerun_finishes(
    tmp_path: Path, sshd_nodes: list[SSHDNode], connections: dict[str, asyncssh.SSHClientConnection],
) -> None:
    root = tmp_path / "kube-root"
    make_kube_root(root, size=32 * MB)
    profile = relative_paths(profile_for(root, sshd_nodes, tmp_path))
    state = StateDir(tmp_path / "state")
    victim = sshd_nodes[1]
    targets = {victim.name: (None, connections[victim.name])}
    assert (await push(profile, state, targets, bus=Bus(), direct=True)).ok
    old = node_files(victim.home)

    tars = root / "_output" / "release-tars"
    for name in ("kubernetes-server-linux-amd64.tar.gz", "kubernetes-node-linux-amd64.tar.gz",
                 "kubernetes-salt.tar.gz"):
        (tars / name).write_bytes(random.randbytes(8 * MB))  # all new: every byte travels
    new = expected(root)

    bus = Bus()

    def kill_after_first_file(event: Event) -> None:
        if isinstance(event, StageProgress) and event.detail.startswith("files 1/"):
            connections[victim.name].abort()

    bus.add_listener(kill_after_first_file)
    cut = await push(profile, state, targets, bus=bus, direct=True)
    assert not cut.ok
    now = node_files(victim.home)
    assert set(now) == set(old)  # no temp file is visible under its real name
    states = ["new" if now[k] == new[k] else "old" if now[k] == old[k] else "mixed" for k in now]
    assert "mixed" not in states and "new" in states and "old" in states, states

    fresh = await victim.connect()
    try:
        rerun = await push(profile, state, {victim.name: (None, fresh)}, bus=Bus(), direct=True)
    finally:
        fresh.close()
    assert rerun.ok, rerun
    assert node_files(victim.home) == new
    assert not list((victim.home / "srv").rglob(".*.tmp"))


async def test_relay_serves_minions_from_files_the_master_replaces_in_the_same_push(
    kube_root: Path, sshd_nodes: list[SSHDNode], connections: dict[str, asyncssh.SSHClientConnection],
    tmp_path: Path,
) -> None:
    """The master holds build 1, the minions nothing: they get build 2 through the relay, old
    chunks read from the master's build-1 inodes (held open while the master renames build 2
    over them) and new ones as soon as the master has written them."""
    profile = relative_paths(profile_for(kube_root, sshd_nodes, tmp_path))
    state = StateDir(tmp_path / "state")
    master = sshd_nodes[0]
    assert (await push(profile, state, {master.name: (None, connections[master.name])}, bus=Bus())).ok
    tars = kube_root / "_output" / "release-tars"
    rebuild(tars / "kubernetes-server-linux-amd64.tar.gz", 11)
    targets = {n: (None, c) for n, c in connections.items()}
    report = await push(profile, state, targets, bus=Bus())
    assert report.ok, report
    for node in sshd_nodes:
        assert node_files(node.home) == expected(kube_root)
    minions = [n for n in report.nodes if n.name != master.name]
    assert all(n.via == "relay" and n.files_changed == len(expected(kube_root)) for n in minions), minions
    # the uplink carried the master's small delta, not the minions' whole tree
    whole = sum((tars / Path(k).name).stat().st_size for k in expected(kube_root) if k.startswith("srv/kube-release"))
    assert report.bytes_from_workstation < 0.2 * whole
