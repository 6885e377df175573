"""Shared set-up for the program tests: a built v1.32 release unpacked, certificates, processes."""

from __future__ import annotations

import datetime
import ipaddress
import os
import random
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from workbench.sandbox.kuberoot import write_kube_root

VERSION = "v1.32.4"


def build_release(root: Path, version: str = VERSION, size_mb: float = 2) -> Path:
    """A fake KUBE_ROOT built for linux/amd64; returns _output/release-tars."""
    write_kube_root(root, size_mb=size_mb, seed="programs-test", version=version)
    env = {**os.environ, "WORKBENCH_FAKE_BUILD_SECONDS": "0", "KUBE_BUILD_PLATFORMS": "linux/amd64",
           "KUBE_RELEASE_RUN_TESTS": "n"}
    env.pop("KUBE_GIT_VERSION", None)
    done = subprocess.run(["build/release.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return root / "_output" / "release-tars"


def unpack(tars: Path, dest: Path) -> Path:
    """The server tar and etcd's tar unpacked as a node's provisioning would."""
    for tar in sorted(tars.glob("*.tar.gz")):
        if tar.name.startswith(("kubernetes-server-", "etcd-")):
            with tarfile.open(tar) as t:
                t.extractall(dest, filter="data")
    return dest


def loopback() -> str:
    """A free 127.x.y.1 address (tests in parallel worktrees pick different ones)."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(50):
        addr = f"127.{rng.randint(200, 250)}.{rng.randint(0, 255)}.1"
        with socket.socket() as s:
            try:
                s.bind((addr, 6443))
            except OSError:
                continue
        return addr
    raise RuntimeError("no free loopback address")


def free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return int(s.getsockname()[1])


@dataclass
class Pki:
    dir: Path
    ca_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-ca")])
        self.ca = self._sign(name, self.ca_key.public_key(), ca=True, issuer=name)
        self.ca_path = self._write("ca.crt", self.ca.public_bytes(serialization.Encoding.PEM))

    def _sign(self, subject: x509.Name, public: ec.EllipticCurvePublicKey, *, ca: bool = False,
              issuer: x509.Name | None = None, ips: tuple[str, ...] = ()) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or self.ca.subject)
                   .public_key(public).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ips:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def issue(self, name: str, cn: str, orgs: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        cert = self._sign(x509.Name(attrs), key.public_key(), ips=ips)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return self._write(f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM)), self._write(f"{name}.key", key_pem)


def kubeconfig(path: Path, server: str, ca: Path, *, token: str = "", cert: Path | None = None,
               key: Path | None = None) -> Path:
    """Block YAML as kubectl writes it (the programs read it with their own small loader)."""
    user = f"    token: {token}\n" if token else f"    client-certificate: {cert}\n    client-key: {key}\n"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        f"    certificate-authority: {ca}\n    server: {server}\n  name: local\n"
        "contexts:\n- context:\n    cluster: local\n    user: me\n  name: local\n"
        f"current-context: local\nusers:\n- name: me\n  user:\n{user}")
    path.chmod(0o600)
    return path


class Processes:
    """Programs started by a test; stopped by pid (SIGTERM, then SIGKILL) at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.running[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str) -> None:
        proc = self.running.pop(name)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def poll(check: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
