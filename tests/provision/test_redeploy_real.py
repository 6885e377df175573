"""`workbench redeploy` from an empty cloud, on machine-like nodes with real Salt: the cluster
forms from the engine's own provisioning alone (issue 17's "done when", current layout)."""

from __future__ import annotations

import base64
import json
import socket
import ssl

import yaml

from workbench.sandbox.kuberoot import CURRENT_VERSION


def test_redeploy_from_an_empty_cloud_gives_ready_nodes_of_the_build(real_cluster) -> None:
    doc = real_cluster.redeploy
    assert doc["ok"] is True, doc
    stages = [s["name"] for s in doc["stages"]]
    assert stages == ["build", "up", "push", "salt", "verify"], doc  # up filled the empty cloud
    assert real_cluster.ready_nodes() == {"kubernetes-minion-1": CURRENT_VERSION,
                                          "kubernetes-minion-2": CURRENT_VERSION}, stages


def test_the_api_server_answers_with_the_ca_in_the_workbench_kubeconfig(real_cluster) -> None:
    config = yaml.safe_load(real_cluster.admin_kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cadata=ca)
    context.check_hostname = False  # the server is an IP; the SAN check is pki's test
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:  # fails unless the chain ends at that CA
        assert tls.getpeercert() is not None
    version = real_cluster.kubectl("version", "-o", "json")
    assert version.returncode == 0, version.stderr
    assert json.loads(version.stdout)["serverVersion"]["gitVersion"] == CURRENT_VERSION


UNITS = {"kubernetes-master": ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"),
         "kubernetes-minion-1": ("kubelet", "kube-proxy"), "kubernetes-minion-2": ("kubelet", "kube-proxy")}


def test_a_second_salt_changes_nothing_on_any_node(real_cluster) -> None:
    doc = json.loads(real_cluster.cli("--json", "salt").stdout)
    assert doc["ok"] is True, doc
    per_node = {n["name"]: (n["changed"], n["failed"]) for n in doc["nodes"]}
    assert per_node == {name: (0, 0) for name in UNITS}, doc


def _running(real_cluster) -> dict[tuple[str, str], tuple[int, str]]:
    """(node, unit) -> (main pid, sha256 of the program it runs)."""
    out = {}
    for node, units in UNITS.items():
        script = "; ".join(f"echo {u} $(systemctl show -p MainPID --value {u}) "
                           f"$(sha256sum /usr/local/bin/{u} | cut -d' ' -f1)" for u in units)
        for line in real_cluster.ssh(node, script).splitlines():
            unit, pid, digest = line.split()
            out[(node, unit)] = (int(pid), digest)
    return out


def test_a_rebuild_restarts_only_the_components_whose_programs_changed(real_cluster) -> None:
    before = _running(real_cluster)
    assert all(pid > 0 for pid, _ in before.values()), before
    doc = json.loads(real_cluster.cli("--json", "redeploy").stdout)  # build changes one or two programs
    assert doc["ok"] is True, doc
    after = _running(real_cluster)
    changed = {key for key in before if before[key][1] != after[key][1]}
    restarted = {key for key in before if before[key][0] != after[key][0]}
    assert changed, "the rebuild changed no program a unit runs: the test proves nothing"
    assert restarted == changed, {"changed": sorted(changed), "restarted": sorted(restarted)}
    assert set(real_cluster.ready_nodes()) == {"kubernetes-minion-1", "kubernetes-minion-2"}


def test_three_redeploys_keep_the_credentials_made_the_first_time(real_cluster) -> None:
    for _ in range(2):  # the session's cluster came from the first
        assert json.loads(real_cluster.cli("--json", "redeploy").stdout)["ok"] is True
    now = real_cluster.pki_snapshot()
    assert any(k.startswith("workstation:pki/") for k in now) and any("minion-1:/etc/kubernetes/pki/" in k for k in now)
    assert now == real_cluster.first_pki


def test_show_highstate_renders_on_master_and_minion(real_cluster) -> None:
    for node, wanted in (("kubernetes-master", "kube-apiserver"), ("kubernetes-minion-1", "kubelet")):
        out = real_cluster.ssh(node, "sudo salt-call --local --out=json state.show_highstate 2>/dev/null")
        local = json.loads(out)["local"]
        assert isinstance(local, dict), local  # a render error comes back as a list of strings
        assert wanted in local and "service" in local[wanted], sorted(local)
        other = "kubelet" if wanted == "kube-apiserver" else "kube-apiserver"
        assert other not in local  # each role gets its own states


def test_the_doctor_finds_nothing_wrong_with_a_fresh_cluster(real_cluster) -> None:
    done = real_cluster.cli("--json", "doctor", check=False)
    doc = json.loads(done.stdout)
    assert doc["alerts"] == [], doc["alerts"]  # no token check on certificates, no false alarm
    assert done.returncode == 0, done.stderr[-2000:]
