"""The cluster's certificates: made once, reused, 0600, SANs right, chains verify (openssl too)."""

import ipaddress
import stat
import subprocess

from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from workbench.engine.provision.pki import ClusterPKI, Subject, apiserver_names, service_ip
from workbench.state import StateDir

NAMES = apiserver_names("kubernetes-master", "cluster.local")


def test_made_once_and_reused(tmp_path):
    state = StateDir(tmp_path).ensure()
    first = ClusterPKI(state)
    ca, admin = first.ca(), first.client("admin", Subject("admin", ("system:masters",)))
    server = first.apiserver(["192.168.0.2", "10.0.0.1"], NAMES)
    sa = first.service_account_key()
    again = ClusterPKI(StateDir(tmp_path))  # a later run of the workbench
    assert again.ca() == ca
    assert again.client("admin", Subject("admin", ("system:masters",))) == admin
    assert again.apiserver(["10.0.0.1"], NAMES[:2]) == server  # a subset: nothing new
    assert again.service_account_key() == sa
    for path in (tmp_path / "pki").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_new_floating_ip_reissues_with_the_same_key_and_ca(tmp_path):
    pki = ClusterPKI(StateDir(tmp_path).ensure())
    ca = pki.ca()
    old = pki.apiserver(["192.168.0.2"], NAMES)
    new = pki.apiserver(["192.168.0.2", "172.24.4.7"], NAMES)
    assert new.key_pem == old.key_pem and new.cert_pem != old.cert_pem
    ips = new.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(ips.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("192.168.0.2"), ipaddress.ip_address("172.24.4.7")}
    assert pki.ca() == ca


def test_apiserver_sans_and_chain(tmp_path):
    pki = ClusterPKI(StateDir(tmp_path).ensure())
    ips = ["192.168.0.2", "172.24.4.7", service_ip("10.0.0.0/16")]
    server = pki.apiserver(ips, NAMES)
    san = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local", "kubernetes-master", "localhost"}
    assert "10.0.0.1" in {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    store = Store([pki.ca().cert])
    for name in ("kubernetes.default.svc", "kubernetes-master"):
        verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name))
        verifier.verify(server.cert, [])
    verifier = PolicyBuilder().store(store).build_server_verifier(x509.IPAddress(ipaddress.ip_address("172.24.4.7")))
    verifier.verify(server.cert, [])


def test_client_subjects_and_openssl_verifies_them(tmp_path):
    pki = ClusterPKI(StateDir(tmp_path).ensure())
    kubelet = pki.client("kubelet-kubernetes-minion-1",
                         Subject("system:node:kubernetes-minion-1", ("system:nodes",)))
    subject = kubelet.cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:kubernetes-minion-1"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    # (cryptography's client verifier wants a SAN, which Kubernetes' client certificates lack)
    (tmp_path / "ca.crt").write_bytes(pki.ca().cert_pem)
    (tmp_path / "kubelet.crt").write_bytes(kubelet.cert_pem)
    done = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile", str(tmp_path / "ca.crt"),
                           str(tmp_path / "kubelet.crt")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_changed_subject_reissues(tmp_path):
    pki = ClusterPKI(StateDir(tmp_path).ensure())
    one = pki.client("admin", Subject("admin", ("system:masters",)))
    two = pki.client("admin", Subject("admin", ("system:masters", "devs")))
    assert one.cert_pem != two.cert_pem
