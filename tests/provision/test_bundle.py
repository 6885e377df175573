"""What each node is sent: role-scoped secrets in 0600 files only; kube-up's grains and pillar
for a seed-era tree, rendered by real Salt against the fake KUBE_ROOT's saltbase."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.provision.salt_render import salt_call, write_node
from workbench.engine.provision.bundle import (
    GRAINS_CONF,
    MINION_CONF,
    OVERLAY,
    current_bundle,
    seed_bundle,
)
from workbench.engine.provision.cluster import NodeAddress, cluster_spec, tree_layout
from workbench.engine.provision.pki import ClusterPKI
from workbench.profile import profile_from_mapping
from workbench.state import StateDir

TEMPLATE = Path(__file__).resolve().parents[2] / "workbench" / "sandbox" / "kuberoot" / "template"
NODES = [NodeAddress("kubernetes-master", "master", "192.168.0.2", "172.24.4.9"),
         NodeAddress("kubernetes-minion-1", "minion", "192.168.0.3", None)]
TOKEN = "0123456789abcdef0123456789abcdef"


def spec_for(tmp_path: Path, layout="current"):
    profile = profile_from_mapping({"cluster": {"minions": 1}}, tmp_path / "p.toml", {})
    return cluster_spec(profile, NODES, version="v1.32.3", layout=layout)


def test_secrets_only_in_0600_files_and_admin_never_on_a_minion(tmp_path):
    spec = spec_for(tmp_path)
    pki = ClusterPKI(StateDir(tmp_path / "state").ensure())
    master = current_bundle(spec, spec.master, pki)
    minion = current_bundle(spec, spec.minions[0], pki)
    admin_key = pki.client("admin", __import__("workbench.engine.provision.bundle", fromlist=["ADMIN"]).ADMIN).key_pem
    secret_keys = [pki.ca().key_pem, admin_key, pki.service_account_key()[0]]
    for bundle in (master, minion):
        for f in bundle.files:
            if b"PRIVATE KEY" in f.data:
                assert f.secret and f.mode == 0o600, f.path
    minion_bytes = b"".join(f.data for f in minion.files)
    for key in secret_keys:
        assert key.strip() not in minion_bytes  # the CA key, admin and SA keys stay on the master
    secrets = yaml.safe_load(minion.file("/srv/pillar/secrets.sls").data)["kube_pki"]
    assert set(secrets) == {"ca_crt", "kubelet_crt", "kubelet_key", "kube_proxy_crt", "kube_proxy_key"}
    master_secrets = yaml.safe_load(master.file("/srv/pillar/secrets.sls").data)["kube_pki"]
    assert master_secrets["admin_key"] == admin_key.decode()


def test_same_bundle_on_every_run(tmp_path):
    spec = spec_for(tmp_path)
    one = current_bundle(spec, spec.minions[0], ClusterPKI(StateDir(tmp_path / "s").ensure()))
    two = current_bundle(spec, spec.minions[0], ClusterPKI(StateDir(tmp_path / "s")))
    assert one == two  # nothing minted again: a second provisioning changes no file


def test_minion_config_is_masterless(tmp_path):
    spec = spec_for(tmp_path)
    bundle = current_bundle(spec, spec.master, ClusterPKI(StateDir(tmp_path / "s").ensure()))
    conf = yaml.safe_load(bundle.file(MINION_CONF).data)
    assert conf["file_client"] == "local"
    assert conf["file_roots"] == {"base": ["/srv/salt"]} and conf["pillar_roots"] == {"base": ["/srv/pillar"]}
    grains = yaml.safe_load(bundle.file(GRAINS_CONF).data)["grains"]
    assert grains["roles"] == ["kubernetes-master"] and grains["node_ip"] == "192.168.0.2"


def test_seed_grains_and_pillar_as_kube_up_wrote_them(tmp_path):
    root = tmp_path / "kube"
    shutil.copytree(TEMPLATE, root)
    assert tree_layout(root) == "seed"
    spec = spec_for(tmp_path, "seed")
    master = seed_bundle(spec, spec.master, TOKEN, root)
    minion = seed_bundle(spec, spec.minions[0], TOKEN, root)
    g = yaml.safe_load(minion.file(GRAINS_CONF).data)["grains"]
    assert g["roles"] == ["kubernetes-pool"] and g["api_servers"] == "192.168.0.2"
    assert g["cloud"] == "vagrant" and g["cbr-cidr"] == "10.244.1.0/24"
    params = yaml.safe_load(master.file(f"{OVERLAY}/pillar/cluster-params.sls").data)
    assert params["service_cluster_ip_range"] == "10.0.0.0/16" and params["dns_server"] == "10.0.0.10"
    assert g["hostname_override"] == spec.minions[0].name  # the name the workbench checks Ready by
    token_files = [f for b in (master, minion) for f in b.files if TOKEN.encode() in f.data]
    assert token_files and all(f.secret and f.mode == 0o600 for f in token_files)
    assert not [f for f in token_files if "/pillar/" in f.path]  # tokens in the overlay's files only
    # what kube-up's provision scripts generated into the salt overlay, whatever the tree holds
    generated = [f.path for f in master.files + minion.files if f.path.startswith(f"{OVERLAY}/salt/")]
    assert generated == [f"{OVERLAY}/salt/kube-apiserver/known_tokens.csv", f"{OVERLAY}/salt/kubelet/kubeconfig",
                         f"{OVERLAY}/salt/kube-proxy/kubeconfig"]
    assert master.extracts[0].dest == f"{OVERLAY}/salt/kube-bins"


def test_seed_known_tokens_hold_the_kubelets_and_kube_proxys_own_tokens(tmp_path):
    root = tmp_path / "kube"
    shutil.copytree(TEMPLATE, root)
    spec = spec_for(tmp_path, "seed")
    master = seed_bundle(spec, spec.master, TOKEN, root, proxy_token="ProxyTok")
    minion = seed_bundle(spec, spec.minions[0], TOKEN, root, proxy_token="ProxyTok")
    tokens = master.file(f"{OVERLAY}/salt/kube-apiserver/known_tokens.csv")
    assert tokens.data == f"{TOKEN},kubelet,kubelet\nProxyTok,kube_proxy,kube_proxy\n".encode() and tokens.mode == 0o600
    proxy = yaml.safe_load(minion.file(f"{OVERLAY}/salt/kube-proxy/kubeconfig").data)
    assert proxy["users"] == [{"name": "kube_proxy", "user": {"token": "ProxyTok"}}]
    kubelet = yaml.safe_load(minion.file(f"{OVERLAY}/salt/kubelet/kubeconfig").data)
    assert kubelet["users"] == [{"name": "kubelet", "user": {"token": TOKEN}}]
    assert not [f for f in master.files if b"ProxyTok" in f.data and f.path.endswith("kubeconfig")]


@pytest.mark.parametrize("role", ["master", "minion"])
def test_seed_tree_renders_with_real_salt(tmp_path, role):
    root = tmp_path / "kube"
    shutil.copytree(TEMPLATE, root)
    spec = spec_for(tmp_path, "seed")
    node = spec.master if role == "master" else spec.minions[0]
    bundle = seed_bundle(spec, node, TOKEN, root)
    node_root = tmp_path / "node"
    conf = write_node(bundle, node_root, [str(node_root / "srv/salt-overlay/salt"), str(root / "cluster/saltbase/salt")])
    code, out, err = salt_call(conf, "state.show_highstate")
    assert code == 0, (out, err)
    local = out["local"]
    assert isinstance(local, dict), local
    if role == "master":
        assert "kube-apiserver" in local and "/srv/kubernetes/known_tokens.csv" in local
    else:
        assert "kubelet" in local and "/var/lib/kubelet/kubeconfig" in local
    # the overlay's generated files are what salt:// serves (kube-up's overlay comes first)
    source, dest = ("kube-apiserver/known_tokens.csv", "tokens") if role == "master" else ("kubelet/kubeconfig", "kc")
    code, out, err = salt_call(conf, "cp.get_file", f"salt://{source}", str(tmp_path / dest))
    assert code == 0, (out, err)
    assert TOKEN in (tmp_path / dest).read_text()
