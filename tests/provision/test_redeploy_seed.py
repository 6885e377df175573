"""kube-up's Salt tree (a v1.2 KUBE_ROOT with cluster/saltbase) on the sandbox: `workbench
redeploy` from an empty cloud, real Salt on every node running the tree's states, the
engine's seed provisioning giving the grains, pillar and overlay files kube-up's scripts
gave, the build's v1.2 programs started from the units that tree writes."""

from __future__ import annotations

import json

from cryptography import x509

from tests.seedcluster import KNOWN_TOKENS, MASTER, MINIONS, kubectl, ready_nodes
from workbench.sandbox.kuberoot import SEED_VERSION


def test_redeploy_from_an_empty_cloud_brings_up_ready_minions_of_the_build(seed_cluster) -> None:
    c = seed_cluster
    assert c.redeploy["ok"], c.redeploy
    assert ready_nodes(c) == {m: SEED_VERSION for m in MINIONS}
    # the API server answers over TLS with the CA make-ca-cert.sh made on the master
    config = (c.state.root / "kubeconfig").read_text()
    assert "certificate-authority-data" in config and "insecure-skip-tls-verify" not in config
    version = json.loads(kubectl(c, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == SEED_VERSION


def test_the_master_runs_the_trees_units_with_v1_2_flags_and_no_secret_on_a_command_line(seed_cluster) -> None:
    c = seed_cluster
    lines = cmdlines(c, MASTER)
    apiserver = next(ln for ln in lines if "/usr/local/bin/kube-apiserver " in ln)
    for flag in ("--token-auth-file=/srv/kubernetes/known_tokens.csv", "--client-ca-file=/srv/kubernetes/ca.crt",
                 "--tls-cert-file=/srv/kubernetes/server.cert", "--insecure-port=8080",
                 "--admission-control=NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota"):
        assert flag in apiserver.split(), flag
    assert any("/usr/local/bin/kube-controller-manager --master=" in ln for ln in lines)
    minion = cmdlines(c, MINIONS[0])
    kubelet = next(ln for ln in minion if "/usr/local/bin/kubelet " in ln)
    assert "--api-servers=https://" in kubelet and "--kubeconfig=/var/lib/kubelet/kubeconfig" in kubelet
    assert f"--hostname-override={MINIONS[0]}" in kubelet
    secrets = [c.state.cluster_token(), (c.state.root / "kube-proxy-token").read_text().strip()]
    everyone = "\n".join(lines + minion)
    assert not [s for s in secrets if s in everyone]


def cmdlines(c, node: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every process's command line on ``node``, read from /proc there."""
    return str(c.ssh(node, "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done")).splitlines()


def test_make_ca_cert_made_the_servers_certificate_for_the_masters_addresses(seed_cluster) -> None:
    c = seed_cluster
    cert = x509.load_pem_x509_certificate(c.ssh(MASTER, "sudo cat /srv/kubernetes/server.cert").encode())
    ca = x509.load_pem_x509_certificate(c.ssh(MASTER, "sudo cat /srv/kubernetes/ca.crt").encode())
    assert cert.issuer == ca.subject
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    server = json.loads(kubectl(c, "config", "view", "-o", "json", "--raw").stdout)["clusters"][0]["cluster"]["server"]
    assert server.split("//")[1].split(":")[0] in ips  # the address the workbench talks to
    assert "kubernetes.default" in sans.get_values_for_type(x509.DNSName)
    modes = c.ssh(MASTER, f"sudo stat -c '%a %n' /srv/kubernetes/server.key {KNOWN_TOKENS}").split()
    assert modes[0] == "660" and modes[2] == "600", modes


def test_a_second_salt_changes_nothing_on_any_node(seed_cluster) -> None:
    doc = json.loads(seed_cluster.cli("--json", "salt").stdout)
    assert doc["ok"], doc
    assert {n["name"]: n["changed"] for n in doc["nodes"]} == {MASTER: 0, **{m: 0 for m in MINIONS}}
    assert all(n["succeeded"] > 10 for n in doc["nodes"])


def test_show_highstate_renders_the_tree_on_master_and_minion(seed_cluster) -> None:
    c = seed_cluster
    wanted = {MASTER: {"kube-apiserver", "etcd", "kubernetes-cert", "/srv/kubernetes/known_tokens.csv"},
              MINIONS[0]: {"kubelet", "kube-proxy", "/var/lib/kubelet/kubeconfig"}}
    for node, ids in wanted.items():
        out = c.ssh(node, "sudo salt-call --local --out=json state.show_highstate")
        high = json.loads(out)["local"]
        assert isinstance(high, dict), high  # a rendering error is a list of messages
        assert ids <= set(high), (node, sorted(high))


def test_the_grains_and_pillar_are_the_ones_kube_up_gave(seed_cluster) -> None:
    c = seed_cluster
    master = json.loads(c.ssh(MASTER, "sudo salt-call --local --out=json grains.item roles api_servers cloud"))["local"]
    assert master["roles"] == ["kubernetes-master"] and master["cloud"] == "vagrant"
    minion = json.loads(c.ssh(MINIONS[0], "sudo salt-call --local --out=json grains.item roles api_servers hostname_override"))
    assert minion["local"]["roles"] == ["kubernetes-pool"]
    assert minion["local"]["api_servers"] == master["api_servers"] and minion["local"]["hostname_override"] == MINIONS[0]
    pillar = json.loads(c.ssh(MINIONS[0], "sudo salt-call --local --out=json pillar.items"))["local"]
    assert pillar["service_cluster_ip_range"] and pillar["dns_domain"] and pillar["instance_prefix"]
    assert c.state.cluster_token() not in json.dumps(pillar)  # the token is in 0600 overlay files only


def _credentials(c) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """sha256 of the seed tree's credentials on every node and the tokens in the state dir."""
    out: dict[str, str] = {}
    for node, paths in ((MASTER, "/srv/kubernetes/*"), *((m, "/var/lib/kubelet/kubeconfig /var/lib/kube-proxy/kubeconfig")
                                                         for m in MINIONS)):
        for line in c.ssh(node, f"sudo sh -c 'sha256sum {paths}'").splitlines():
            digest, path = line.split(maxsplit=1)
            out[f"{node}:{path}"] = digest
    out["cluster-token"] = c.state.cluster_token()
    out["kube-proxy-token"] = (c.state.root / "kube-proxy-token").read_text()
    return out


def test_a_redeploy_keeps_the_ca_certificates_and_tokens_made_the_first_time(seed_cluster) -> None:
    c = seed_cluster
    first = _credentials(c)
    assert f"{MASTER}:/srv/kubernetes/ca.crt" in first and f"{MINIONS[1]}:/var/lib/kubelet/kubeconfig" in first
    doc = json.loads(c.cli("--json", "redeploy").stdout)
    assert doc["ok"], doc
    assert _credentials(c) == first
