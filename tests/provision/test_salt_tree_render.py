"""The workbench's own Salt tree renders with real Salt for both roles, from the grains and
pillar the engine computes (state.show_highstate and state.show_sls, salt-call --local)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.provision.salt_render import salt_call, write_node
from workbench.engine.provision import tree
from workbench.engine.provision.bundle import current_bundle
from workbench.engine.provision.cluster import NodeAddress, cluster_spec
from workbench.engine.provision.pki import ClusterPKI
from workbench.profile import profile_from_mapping
from workbench.state import StateDir

NODES = [NodeAddress("kubernetes-master", "master", "192.168.0.2", "172.24.4.9"),
         NodeAddress("kubernetes-minion-1", "minion", "192.168.0.3", None),
         NodeAddress("kubernetes-minion-2", "minion", "192.168.0.4", None)]


def spec_for(tmp_path: Path, kube: dict | None = None, version: str = "v1.32.3"):
    profile = profile_from_mapping({"kube": kube or {}, "cluster": {"minions": 2}}, tmp_path / "p.toml", {})
    return cluster_spec(profile, NODES, version=version, layout="current")


def states(out: object) -> dict[str, dict]:
    assert isinstance(out, dict), out
    local = out["local"]
    assert isinstance(local, dict), local  # a list here is Salt's list of render errors
    return local


def unit_exec(local: dict, unit: str) -> list[str]:
    """The ExecStart flags of one unit file the highstate would write."""
    contents = next(a["contents"] for a in local[f"/etc/systemd/system/{unit}.service"]["file"] if isinstance(a, dict) and "contents" in a)
    joined = re.sub(r"\\\n\s*", " ", contents)
    line = next(line for line in joined.splitlines() if line.startswith("ExecStart="))
    return line.split()[1:]


@pytest.mark.parametrize("version", ["v1.30.14", "v1.31.9", "v1.32.3", "v1.33.0"])
def test_master_highstate_renders(tmp_path, version):
    spec = spec_for(tmp_path, {"extra_flags": {"kube-apiserver": ["--v=4"]}}, version)
    bundle = current_bundle(spec, spec.master, ClusterPKI(StateDir(tmp_path / "state").ensure()))
    conf = write_node(bundle, tmp_path / "node", [str(tree.PACKAGED_TREE)])
    code, out, err = salt_call(conf, "state.show_highstate")
    assert code == 0, (out, err)
    local = states(out)
    for unit in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert "service" in local[unit], unit
    for absent in ("kubelet", "kube-proxy", "/var/lib/kubelet/kubeconfig"):
        assert absent not in local
    flags = unit_exec(local, "kube-apiserver")
    assert "--service-cluster-ip-range=10.0.0.0/16" in flags
    assert "--advertise-address=192.168.0.2" in flags
    assert flags[-1] == "--v=4"  # the profile's extra flags come last
    assert "--bind-address=0.0.0.0" in flags and "--etcd-servers=http://127.0.0.1:2379" in flags
    assert "--cluster-cidr=10.244.0.0/16" in unit_exec(local, "kube-controller-manager")


def test_minion_highstate_renders(tmp_path):
    spec = spec_for(tmp_path, {"dns_ip": "10.0.0.53", "extra_flags": {"kubelet": ["--v=2"]}})
    node = spec.node("kubernetes-minion-2")
    bundle = current_bundle(spec, node, ClusterPKI(StateDir(tmp_path / "state").ensure()))
    conf = write_node(bundle, tmp_path / "node", [str(tree.PACKAGED_TREE)])
    code, out, err = salt_call(conf, "state.show_highstate")
    assert code == 0, (out, err)
    local = states(out)
    assert {"kubelet", "kube-proxy", "pod-routes"} <= set(local)
    assert "kube-apiserver" not in local and "etcd" not in local
    assert unit_exec(local, "kubelet") == [
        "--config=/var/lib/kubelet/kubelet-config.yaml", "--kubeconfig=/var/lib/kubelet/kubeconfig",
        "--hostname-override=kubernetes-minion-2", "--node-ip=192.168.0.4", "--v=2"]
    config = next(a["contents"] for a in local["/var/lib/kubelet/kubelet-config.yaml"]["file"]
                  if isinstance(a, dict) and "contents" in a)
    assert "- 10.0.0.53" in config and "containerRuntimeEndpoint: unix:///run/containerd/containerd.sock" in config
    routes = next(a["contents"] for a in local["/etc/systemd/system/pod-routes.service"]["file"]
                  if isinstance(a, dict) and "contents" in a)
    assert "ip route replace 10.244.0.0/24 via 192.168.0.2" in routes
    assert "ip route replace 10.244.1.0/24 via 192.168.0.3" in routes
    assert "via 192.168.0.4" not in routes  # not to itself
    cni = next(a["contents"] for a in local["/etc/cni/net.d/10-bridge.conf"]["file"]
               if isinstance(a, dict) and "contents" in a)
    assert '"subnet": "10.244.2.0/24"' in cni


def test_node_ip_listening(tmp_path):
    spec = spec_for(tmp_path, {"listen": "node-ip"})
    conf = write_node(current_bundle(spec, spec.master, ClusterPKI(StateDir(tmp_path / "s").ensure())),
                      tmp_path / "node", [str(tree.PACKAGED_TREE)])
    code, out, err = salt_call(conf, "state.show_highstate")
    assert code == 0, (out, err)
    joined = " ".join(" ".join(unit_exec(states(out), u)) for u in ("etcd", "kube-apiserver", "kube-controller-manager"))
    assert not re.search(r"(?<![\d.])(127\.0\.0\.1|0\.0\.0\.0)(?![\d/])", joined), joined
    assert "--bind-address=192.168.0.2" in joined and "--etcd-servers=http://192.168.0.2:2379" in joined


def test_show_sls_per_component_and_no_network(tmp_path):
    spec = spec_for(tmp_path, {"pod_network": "none", "addons": []})
    pki = ClusterPKI(StateDir(tmp_path / "state").ensure())
    minion = write_node(current_bundle(spec, spec.minions[0], pki), tmp_path / "m", [str(tree.PACKAGED_TREE)])
    code, out, err = salt_call(minion, "state.show_sls", "pod-network")
    assert code == 0 and states(out) == {}, (out, err)
    master = write_node(current_bundle(spec, spec.master, pki), tmp_path / "k", [str(tree.PACKAGED_TREE)])
    code, out, err = salt_call(master, "state.show_sls", "coredns")
    assert code == 0, (out, err)
    assert "coredns" not in {s["__sls__"] for s in states(out).values()}
    code, out, err = salt_call(master, "state.show_sls", "kube-scheduler")
    assert code == 0 and "kube-scheduler" in states(out), (out, err)


def test_a_render_error_is_seen(tmp_path):
    """The harness fails on a broken tree: a state that reads a pillar key nobody writes."""
    bad_tree = tmp_path / "tree"
    (bad_tree / "broken").mkdir(parents=True)
    (bad_tree / "top.sls").write_text("base:\n  '*':\n    - broken\n")
    (bad_tree / "broken" / "init.sls").write_text("x:\n  file.managed:\n    - name: {{ pillar['kube']['nope'] }}\n")
    spec = spec_for(tmp_path)
    conf = write_node(current_bundle(spec, spec.master, ClusterPKI(StateDir(tmp_path / "s").ensure())),
                      tmp_path / "node", [str(bad_tree)])
    code, out, _ = salt_call(conf, "state.show_highstate")
    assert code != 0 and "nope" in str(out)


@pytest.mark.parametrize(("source", "state", "program"), [
    ({"etcd_tar": "etcd-v3.5.16-linux-amd64.tar.gz"}, "etcd-unpacked", "/usr/local/bin/etcd"),
    ({"etcd_in_server_tar": True}, "kube-bin-etcd", "/usr/local/bin/etcd"),
    ({}, "etcd-program", "/usr/bin/etcd"),
])
def test_etcd_from_the_build_or_the_distribution(tmp_path, source, state, program):
    import dataclasses

    spec = dataclasses.replace(spec_for(tmp_path), **source)
    bundle = current_bundle(spec, spec.master, ClusterPKI(StateDir(tmp_path / "state").ensure()))
    conf = write_node(bundle, tmp_path / "node", [str(tree.PACKAGED_TREE)])
    code, out, err = salt_call(conf, "state.show_sls", "etcd")
    assert code == 0, (out, err)
    local = states(out)
    assert state in local
    contents = next(a["contents"] for a in local["/etc/systemd/system/etcd.service"]["file"]
                    if isinstance(a, dict) and "contents" in a)
    assert f"ExecStart={program} " in contents


FLAG_TABLE = Path(__file__).resolve().parents[2] / "workbench/sandbox/kuberoot/programs/flagtables/v1.32.json"


@pytest.mark.skipif(not FLAG_TABLE.exists(), reason="the sandbox's v1.32 flag table (kube-programs) is not here yet")
def test_every_flag_is_a_v1_32_flag(tmp_path):
    """Each unit's flags are in v1.32's flag set (tools/kube_flags.py read Kubernetes' and
    etcd's sources) and none is one the release removed."""
    import json

    table = json.loads(FLAG_TABLE.read_text())
    spec = spec_for(tmp_path)
    pki = ClusterPKI(StateDir(tmp_path / "state").ensure())
    plan = ((spec.master, ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")),
            (spec.minions[0], ("kubelet", "kube-proxy")))
    for node, units in plan:
        conf = write_node(current_bundle(spec, node, pki), tmp_path / node.name, [str(tree.PACKAGED_TREE)])
        code, out, err = salt_call(conf, "state.show_highstate")
        assert code == 0, (out, err)
        for unit in units:
            for flag in unit_exec(states(out), unit):
                name = flag[2:].split("=", 1)[0]
                assert name in table["components"][unit], (unit, flag)
                assert name not in table["removed"].get(unit, {}), (unit, flag)


@pytest.mark.parametrize("role", ["master", "minion"])
def test_daemon_reload_only_after_a_unit_changed(tmp_path, role):
    """In the compiled highstate, systemctl daemon-reload waits on every unit file and on
    nothing else: a second highstate that changes no unit reloads nothing."""
    spec = spec_for(tmp_path)
    node = spec.master if role == "master" else spec.minions[0]
    conf = write_node(current_bundle(spec, node, ClusterPKI(StateDir(tmp_path / "s").ensure())),
                      tmp_path / "node", [str(tree.PACKAGED_TREE)])
    code, out, err = salt_call(conf, "state.show_lowstate")
    assert code == 0, (out, err)
    chunks = out["local"]
    reload = next(c for c in chunks if c["__id__"] == "systemd-reload")
    units = {c["name"] for c in chunks if c["state"] == "file" and c["name"].startswith("/etc/systemd/system/")}
    assert units and {r["file"] for r in reload["onchanges"]} == units
