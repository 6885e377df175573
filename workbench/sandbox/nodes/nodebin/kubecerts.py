"""The cluster CA and the API server's certificate, as kube-up's make-ca-cert.sh made them.

make-ca-cert.sh (run by the master's ``generate-cert`` state) wrote ``ca.crt``,
``server.cert`` and ``server.key`` into /srv/kubernetes once. Here the CA is made once
and kept (``ca.key``, 0600, so the server certificate can be re-issued when the master
gains an address it lacks); RSA 2048 and ten years, as easy-rsa's defaults were.
Stdlib and ``cryptography`` only: it runs on a node (``python -IS``) and in the sandbox.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_IP = "10.0.0.1"  # the kubernetes service's cluster IP, in kube-up's SANs too
DNS_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local")
FILES = ("ca.crt", "ca.key", "server.cert", "server.key")


def _crypto() -> Any:
    """``cryptography``; a node's commands run with ``-IS``, so add this Python's site dirs."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        exe = Path(sys.executable)
        prefixes = [str(p) for p in (exe.parent.parent, Path(sys.prefix), Path(sys.base_prefix))
                    if (p / "pyvenv.cfg").is_file() or p == Path(sys.base_prefix)]
        for path in [*site.getsitepackages(prefixes), site.getusersitepackages()]:
            if path not in sys.path:
                sys.path.append(path)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    return x509, hashes, serialization, rsa, ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertResult:
    changed: tuple[str, ...]  # file names written this time
    ca_pem: bytes
    sans: tuple[str, ...]


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: Any, serialization: Any) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()))


def _make_ca(directory: Path, cn: str) -> None:
    x509, hashes, serialization, rsa, _eku, NameOID = _crypto()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(directory / "ca.key", _key_pem(key, serialization), 0o600)
    _write(directory / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _server_sans(cert_pem: bytes) -> set[str]:
    x509 = _crypto()[0]
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in ext.get_values_for_type(x509.IPAddress)} | set(ext.get_values_for_type(x509.DNSName))


def _signed_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    x509 = _crypto()[0]
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
        if hasattr(cert, "verify_directly_issued_by"):
            cert.verify_directly_issued_by(ca)
        else:  # cryptography < 40 (Debian 12's, on a node): issuer and RSA signature by hand
            from cryptography.hazmat.primitives.asymmetric import padding

            if cert.issuer != ca.subject:
                return False
            ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                   padding.PKCS1v15(), cert.signature_hash_algorithm)
    except Exception:
        return False
    return True


def _issue_server(directory: Path, cn: str, ips: list[str], dns: list[str]) -> None:
    x509, hashes, serialization, rsa, ExtendedKeyUsageOID, NameOID = _crypto()
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [x509.DNSName(d) for d in dns]
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(directory / "server.key", _key_pem(key, serialization), 0o600)
    _write(directory / "server.cert", cert.public_bytes(serialization.Encoding.PEM), 0o644)


def ensure(directory: Path, master_name: str, addresses: list[str]) -> CertResult:
    """CA once; a server certificate covering every address (re-issued when one is missing)."""
    ips = list(dict.fromkeys([*addresses, "127.0.0.1", SERVICE_IP]))
    for ip in ips:
        ipaddress.ip_address(ip)  # ValueError names a bad address before anything is written
    dns = list(dict.fromkeys([*DNS_NAMES, master_name]))
    changed: list[str] = []
    if not ((directory / "ca.crt").is_file() and (directory / "ca.key").is_file()):
        cn = f"{addresses[0] if addresses else master_name}@{int(_now().timestamp())}"
        _make_ca(directory, cn)
        changed += ["ca.crt", "ca.key"]
    ca_pem = (directory / "ca.crt").read_bytes()
    cert_path = directory / "server.cert"
    current = cert_path.read_bytes() if cert_path.is_file() else b""
    if (not current or not (directory / "server.key").is_file() or not _signed_by(current, ca_pem)
            or not (set(ips) | set(dns)) <= _server_sans(current)):
        _issue_server(directory, master_name, ips, dns)
        changed += ["server.cert", "server.key"]
    return CertResult(tuple(changed), ca_pem, tuple(ips + dns))
