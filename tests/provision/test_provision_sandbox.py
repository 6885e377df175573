"""Provisioning over SSH against sandbox nodes: files in place with the right modes, a second
run changes nothing, secrets travel on stdin only, a failing node does not stop the others."""

from __future__ import annotations

import dataclasses
import io
import stat
import tarfile
from pathlib import Path

import yaml

from tests.engine.test_salt_helpers import start_cluster
from workbench.engine.provision.apply import apply_command
from workbench.engine.provision.run import ADMIN_KUBECONFIG, provision
from workbench.events import StageFinished


def node_root(c, instance) -> Path:
    return Path(c.box.state_dir) / "nodes" / instance.id / "root"


def current_kube_root(tmp_path: Path) -> Path:
    """A KUBE_ROOT after a v1.32 build: release tars, no cluster/saltbase."""
    root = tmp_path / "kube-current"
    tars = root / "_output" / "release-tars"
    tars.mkdir(parents=True)
    for name, prefix in (("server", "kubernetes/server/bin"), ("node", "kubernetes/node/bin")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for member, data in ((f"{prefix}/kubelet", b"\x7fELF kubelet"), ("kubernetes/version", b"v1.32.3\n")):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        (tars / f"kubernetes-{name}-linux-amd64.tar.gz").write_bytes(buf.getvalue())
    return root


async def test_current_tree_files_in_place_and_idempotent(make_sandbox, tmp_path) -> None:
    c = await start_cluster(make_sandbox, minions=2, provisioned=False)
    try:
        profile = dataclasses.replace(c.profile, kube=dataclasses.replace(c.profile.kube, root=current_kube_root(tmp_path)))
        report = await provision(profile, c.state, c.pool, list(c.instances), bus=c.bus)
        assert report.ok, report.errors
        assert report.spec.version == "v1.32.3" and report.spec.layout == "current"
        assert all(len(r.changed) == 5 for r in report.results)
        master, minion = node_root(c, c.master), node_root(c, c.minions[0])
        for root in (master, minion):
            secrets = root / "srv/pillar/secrets.sls"
            assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
            conf = yaml.safe_load((root / "etc/salt/minion.d/workbench.conf").read_text())
            assert conf["file_client"] == "local"
        assert "admin_key" in (master / "srv/pillar/secrets.sls").read_text()
        assert "admin" not in (minion / "srv/pillar/secrets.sls").read_text()
        grains = yaml.safe_load((minion / "etc/salt/minion.d/grains.conf").read_text())["grains"]
        assert grains["node_ip"] == c.minions[0].fixed_ip and grains["master_ip"] == c.master.fixed_ip
        assert (c.state.root / ADMIN_KUBECONFIG).stat().st_mode & 0o077 == 0
        again = await provision(profile, c.state, c.pool, list(c.instances))
        assert again.ok and all(r.changed == () for r in again.results)  # nothing minted, nothing rewritten
        assert again.spec == report.spec
    finally:
        await c.close()


def test_seed_tree_unpacks_binaries_and_keeps_the_token(seed_cluster) -> None:
    """kube-up's tree: the server tar unpacked into the salt overlay's kube-bins (install.sh's
    job), the tokens in 0600 overlay files only, and a second provisioning changes nothing."""
    from tests.seedcluster import MASTER, MINIONS

    c = seed_cluster
    overlay = "/srv/salt-overlay/salt"
    assert c.ssh(MASTER, f"sudo head -c 2 {overlay}/kube-bins/kube-apiserver").strip() == "#!"
    assert c.ssh(MASTER, f"sudo test -x {overlay}/etcd-bins/etcd && echo yes").strip() == "yes"
    token = c.state.cluster_token()
    rows = c.ssh(MASTER, f"sudo cat {overlay}/kube-apiserver/known_tokens.csv").splitlines()
    assert f"{token},kubelet,kubelet" in rows and any(r.endswith(",kube_proxy,kube_proxy") for r in rows)
    assert token not in rows[1]  # kube-proxy has its own token, as kube-up gave it
    modes = [c.ssh(n, f"sudo stat -c %a {path}").strip() for n, path in (
        (MASTER, f"{overlay}/kube-apiserver/known_tokens.csv"), (MINIONS[0], f"{overlay}/kubelet/kubeconfig"),
        (MINIONS[0], f"{overlay}/kube-proxy/kubeconfig"), (MINIONS[0], "/var/lib/kubelet/kubeconfig"))]
    assert modes == ["600", "600", "600", "400"], modes
    assert token not in apply_command()  # the token travels on stdin, never in argv
    again = c.cli("salt")
    said = [ln for ln in again.stderr.splitlines() if "seed tree" in ln]
    assert len(said) == 3 and all(ln.endswith(": 0 file(s) changed") for ln in said), said
    assert c.state.cluster_token() == token


async def test_a_failing_node_fails_alone(make_sandbox, tmp_path) -> None:
    c = await start_cluster(make_sandbox, minions=2, provisioned=False)
    try:
        profile = dataclasses.replace(c.profile, kube=dataclasses.replace(c.profile.kube, root=current_kube_root(tmp_path)))
        # a directory where the minion config goes: the write fails on that node only
        await c.pool.run(c.minions[1], "sudo mkdir -p /etc/salt/minion.d/workbench.conf/x", check=True)
        report = await provision(profile, c.state, c.pool, list(c.instances), bus=c.bus)
        assert report.failed == (c.minions[1].name,)
        why = report.errors[0][1]
        assert why.startswith(f"{c.minions[1].name}: provisioning files: ") and "Directory" in why, why
        assert "\n" not in why
        assert {r.node for r in report.results} == {c.master.name, c.minions[0].name}
        assert all(len(r.changed) == 5 for r in report.results)  # the others got every file
        finished = [e for e in c.events if isinstance(e, StageFinished) and e.stage == "provision"]
        assert {e.node for e in finished if e.ok} == {c.master.name, c.minions[0].name}
        assert [e.node for e in finished if not e.ok] == [c.minions[1].name]
    finally:
        await c.close()


class RecordingPool:
    """Every command line the engine sends a node, recorded on the way (the pool is real)."""

    def __init__(self, pool) -> None:
        self.pool, self.commands = pool, []

    async def run(self, node, command, **kw):
        self.commands.append(command)
        return await self.pool.run(node, command, **kw)


async def test_no_secret_on_any_command_line(make_sandbox, tmp_path) -> None:
    c = await start_cluster(make_sandbox, minions=1, provisioned=False)
    try:
        profile = dataclasses.replace(c.profile, kube=dataclasses.replace(c.profile.kube, root=current_kube_root(tmp_path)))
        pool = RecordingPool(c.pool)
        report = await provision(profile, c.state, pool, list(c.instances))  # type: ignore[arg-type]
        assert report.ok and pool.commands
        secrets = [p.read_bytes() for p in (c.state.root / "pki").iterdir()]
        bodies = [line for pem in secrets for line in pem.decode().splitlines() if line and "-----" not in line]
        assert bodies
        for command in pool.commands:
            assert not any(body in command for body in bodies)
            assert "PRIVATE KEY" not in command
        # ...while the keys did reach the nodes, through stdin
        assert "PRIVATE KEY" in (node_root(c, c.master) / "srv/pillar/secrets.sls").read_text()
    finally:
        await c.close()
