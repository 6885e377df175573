"""Against the cluster the workbench brought up itself (``real_cluster``: redeploy from an
empty cloud, real Salt, the build's v1.32 programs): `workbench info` and the engine's
client read what the workbench's tree deployed (the control plane, two Ready minions, no
addons with pod_network none and addons []), with the admin certificate and CA from the
state dir, or with a token the API server refuses; the CA read from the master over SSH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench.engine.cloud import CloudClient
from workbench.engine.kube.client import MASTER, KubeClient, KubeError, fetch_ca, server_url
from workbench.engine.provision.pki import ClusterPKI
from workbench.engine.ssh.pool import SSHPool

OWN_TREE_CA = "/etc/kubernetes/pki/ca.crt"  # where the workbench's tree puts it (common/init.sls)


def info(cluster: Any, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "workbench", "--profile", str(cluster.profile_path), "info", *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_info_after_redeploy(real_cluster: Any, tmp_path: Path) -> None:
    recorded = yaml.safe_load(real_cluster.admin_kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    empty = tmp_path / "bin"
    empty.mkdir()
    runs = [("http", str(empty))] + ([("kubectl", None)] if shutil.which("kubectl") else [])
    expected_nodes = sorted(real_cluster.ready_nodes())
    assert expected_nodes == ["kubernetes-minion-1", "kubernetes-minion-2"]
    for source, path in runs:
        done = info(real_cluster, "--json", path=path)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["source"] == source
        server = doc["server"]
        assert server == recorded and server.startswith("https://127.") and server.endswith(":6443")
        # what the tree deploys: the control plane, no cluster-service addons, no pods
        assert doc["services"] == [{"name": MASTER, "url": server}]
        assert doc["nodes"] == [{"name": n, "ready": True, "status": "Ready", "roles": "<none>", "version": "v1.32.4"}
                                for n in expected_nodes]
        assert doc["pods"] == []
    # a token of the user's: the server from the cloud, the CA the workbench made; refused, in one line
    wrong = tmp_path / "wrong-token"
    wrong.write_text("0" * 32 + "\n")
    for path in (None, str(empty)):
        done = info(real_cluster, "--token-file", str(wrong), path=path)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert "You must be logged in to the server (Unauthorized)" in lines[0] and "0" * 32 not in lines[0]


async def test_ca_over_ssh_and_a_client_that_loads_it(real_cluster: Any, tmp_path: Path) -> None:
    profile, state = real_cluster.profile, real_cluster.state
    cloud = CloudClient(profile)
    instances = [i for i in await cloud.list_instances() if i.status == "ACTIVE"]
    pool = SSHPool(profile, state, console=cloud.console_output)
    pool.remember(instances)
    master = next(i for i in instances if i.role == "master")
    try:
        with pytest.raises(KubeError, match=r"kubernetes-master:/etc/kubernetes/pki/nope\.crt: .*No such file.*"
                                            r"has the master's highstate run"):
            await fetch_ca(pool, master, "/etc/kubernetes/pki/nope.crt")
        ca = await fetch_ca(pool, master, OWN_TREE_CA)
        assert ca == ClusterPKI(state).ca().cert_pem  # the CA the workbench made, as Salt wrote it
        loads: list[bytes] = []

        async def loader() -> bytes:
            loads.append(await fetch_ca(pool, master, OWN_TREE_CA))
            return loads[-1]

        server = server_url(master.floating_ip or master.fixed_ip, tls=True)
        client = KubeClient(server, None, tmp_path / "k", kubectl=None, ca_loader=loader,
                            client_pem=ClusterPKI(state).path("admin"))
        first = await client.refresh()
        second = await client.refresh()
        assert [(n.name, n.ready) for n in second.nodes] == [(n, True) for n in sorted(real_cluster.ready_nodes())]
        assert [s.name for s in first.services] == [MASTER] and loads == [ca]  # fetched once
        with pytest.raises(KubeError, match="Unauthorized"):
            await KubeClient(server, "0" * 32, tmp_path / "w", kubectl=None, ca_pem=ca).refresh()
    finally:
        await pool.close()
