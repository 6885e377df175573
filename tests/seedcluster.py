"""Helpers for tests on the shared seed-era cluster (the ``seed_cluster`` fixture): kube-up's
Salt tree from a v1.2 KUBE_ROOT, brought up by `workbench redeploy` (tests/realcluster.py).

No tests here. The workbench's kubeconfig for this layout is the one its API client wrote
(``<state>/kubeconfig``: the cluster token, the CA read from the master).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.realcluster import RealCluster, poll

MASTER = "kubernetes-master"
MINIONS = ("kubernetes-minion-1", "kubernetes-minion-2")
KNOWN_TOKENS = "/srv/kubernetes/known_tokens.csv"


def kubectl(c: RealCluster, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed")
    return subprocess.run([binary, f"--kubeconfig={c.state.root / 'kubeconfig'}", *args],
                          capture_output=True, text=True, timeout=60)


def ready_nodes(c: RealCluster) -> dict[str, str]:
    """{node: kubelet version} of the nodes the real kubectl shows Ready."""
    done = kubectl(c, "get", "nodes", "-o", "json")
    assert done.returncode == 0, done.stderr
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"]
            for n in json.loads(done.stdout)["items"]
            if any(k["type"] == "Ready" and k["status"] == "True" for k in n["status"].get("conditions", []))}


def kubelet_row(c: RealCluster) -> str:
    """The kubelet's token in the master's known_tokens.csv."""
    text = c.ssh(MASTER, f"sudo cat {KNOWN_TOKENS}")
    return next(row[0] for row in csv.reader(text.splitlines()) if len(row) > 1 and row[1] == "kubelet")


def regen_token(c: RealCluster) -> str:
    """The sandbox's token-regen fault: the master's csv gets a new kubelet token out of band
    (switched on, waited for, switched off again so that the next switch regenerates)."""
    before = kubelet_row(c)
    c.box.set_fault("token-regen", True)
    try:
        return str(poll(lambda: (t := kubelet_row(c)) != before and t, 30, "the master's kubelet token changed"))
    finally:
        c.box.set_fault("token-regen", False)


def restore(c: RealCluster) -> dict[str, Any]:
    """Put the cluster back: `workbench salt` writes the state dir's token everywhere again."""
    doc: dict[str, Any] = json.loads(c.cli("--json", "salt").stdout)
    assert doc["ok"], doc
    assert kubelet_row(c) == c.state.cluster_token()
    poll(lambda: set(MINIONS) <= set(ready_nodes(c)), 60, "every minion Ready again")
    return doc
