"""The cluster's certificates and keys, made once on the workstation and kept in the state dir.

Each identity is one file, ``<state>/pki/<name>.pem`` (certificate then key, 0600), written
atomically, so a crash leaves it whole or absent and two runs agree on what exists. Nothing
is ever minted again while its file is valid: the seed's token mismatch (a re-provisioning
that regenerated a credential) cannot recur. The API server's certificate alone is
re-issued, with its old key and the same CA, when the master gains an address its SANs lack
(a new floating IP); every client keeps trusting it through the CA.

Keys are ECDSA P-256: Kubernetes accepts them for serving, client and service-account
tokens (ES256), and they are made in microseconds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from workbench.errors import StateError
from workbench.state import StateDir, atomic_write

CA_YEARS = 10
LEAF_YEARS = 5
RENEW_BEFORE = dt.timedelta(days=30)
PKI_DIR = "pki"
San = str | ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Identity:
    """A certificate and its private key, PEM encoded."""

    name: str
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True)
class Subject:
    """Who a client certificate names: Kubernetes reads CN as the user, O as the groups."""

    common_name: str
    organizations: tuple[str, ...] = ()


def service_ip(service_cidr: str) -> str:
    """The first address of the service network: the ``kubernetes`` service's cluster IP."""
    return str(ipaddress.IPv4Network(service_cidr).network_address + 1)


def apiserver_names(master_name: str, dns_domain: str) -> tuple[str, ...]:
    """DNS SANs of the API server's certificate (kubeadm's list, plus the master's name)."""
    return ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
            f"kubernetes.default.svc.{dns_domain}", master_name, "localhost")


class ClusterPKI:
    """The CA, the API server's serving certificate, client certificates, the service-account key."""

    def __init__(self, state: StateDir) -> None:
        self.dir = state.root / PKI_DIR

    # -- identities -------------------------------------------------------------------
    def ca(self) -> Identity:
        found = self._load("ca")
        if found is not None:
            return found
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workbench-ca")])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return self._save(Identity("ca", _cert_pem(cert), _key_pem(key)))

    def client(self, name: str, subject: Subject) -> Identity:
        """A client certificate (kubelet, kube-proxy, controller-manager, scheduler, admin)."""
        found = self._load(name)
        if found is not None and _names(found.cert) == subject and _fresh(found.cert):
            return found
        key = _reuse_key(found)
        return self._save(self._issue(name, key, subject, server=False, sans=()))

    def apiserver(self, ips: Iterable[str], dns_names: Iterable[str]) -> Identity:
        """The serving certificate; re-issued (same key) only when an address or name is new."""
        wanted: set[San] = {*(ipaddress.ip_address(i) for i in ips), *dns_names}
        found = self._load("apiserver")
        if found is not None and wanted <= _sans(found.cert) and _fresh(found.cert):
            return found
        have = _sans(found.cert) if found is not None else set()
        sans = sorted(wanted | have, key=str)
        key = _reuse_key(found)
        return self._save(self._issue("apiserver", key, Subject("kube-apiserver"), server=True, sans=sans))

    def service_account_key(self) -> tuple[bytes, bytes]:
        """(private, public) PEM of the key that signs service-account tokens."""
        path = self.dir / "service-account.key"
        try:
            private = path.read_bytes()
        except FileNotFoundError:
            private = _key_pem(ec.generate_private_key(ec.SECP256R1()))
            atomic_write(path, private, mode=0o600)
        key = serialization.load_pem_private_key(private, None)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return private, public

    # -- internals --------------------------------------------------------------------
    def _issue(self, name: str, key: ec.EllipticCurvePrivateKey, subject: Subject, *, server: bool,
               sans: Iterable[San]) -> Identity:
        ca = self.ca()
        ca_key = serialization.load_pem_private_key(ca.key_pem, None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in subject.organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name))
        now = _now()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs)).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=365 * LEAF_YEARS), ca.cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_encipherment=False, content_commitment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        names: list[x509.GeneralName] = [
            x509.IPAddress(s) if not isinstance(s, str) else x509.DNSName(s) for s in sans
        ]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return Identity(name, _cert_pem(cert), _key_pem(key))

    def _load(self, name: str) -> Identity | None:
        path = self.dir / f"{name}.pem"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        cut = raw.find(b"-----BEGIN PRIVATE KEY-----")
        if cut <= 0:
            raise StateError(f"{path}: not a certificate followed by its key; move it away to reset")
        try:
            identity = Identity(name, raw[:cut], raw[cut:])
            _ = identity.cert
        except ValueError as exc:
            raise StateError(f"{path}: unreadable certificate ({exc}); move it away to reset") from None
        return identity

    def _save(self, identity: Identity) -> Identity:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self.dir / f"{identity.name}.pem", identity.cert_pem + identity.key_pem, mode=0o600)
        return identity

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.pem"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() > RENEW_BEFORE


def _reuse_key(found: Identity | None) -> ec.EllipticCurvePrivateKey:
    if found is not None:
        key = serialization.load_pem_private_key(found.key_pem, None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key
    return ec.generate_private_key(ec.SECP256R1())


def _names(cert: x509.Certificate) -> Subject:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return Subject(str(cn[0].value) if cn else "", tuple(str(o.value) for o in orgs))


def _sans(cert: x509.Certificate) -> set[San]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    ips = [i for i in ext.get_values_for_type(x509.IPAddress)
           if isinstance(i, ipaddress.IPv4Address | ipaddress.IPv6Address)]
    return {*ips, *ext.get_values_for_type(x509.DNSName)}


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
