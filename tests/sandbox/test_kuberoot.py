"""The fake KUBE_ROOT: its layout, and what its build/release.sh writes and honours."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
import zlib
from pathlib import Path

import yaml

from workbench.sandbox.kuberoot import SEED_VERSION, add_vagrant_machine, write_kube_root


def build(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "WORKBENCH_FAKE_BUILD_SECONDS": "0", **env}
    for name in ("KUBE_BUILD_PLATFORMS", "KUBE_FASTBUILD", "KUBE_RELEASE_RUN_TESTS"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run(["build/release.sh"], cwd=root, env=full, capture_output=True, text=True, timeout=120)


def members(data: bytes) -> list[int]:
    """crc32 of each gzip member's compressed bytes (the rsyncable cut points)."""
    out, rest = [], data
    while rest:
        d = zlib.decompressobj(31)
        d.decompress(rest)
        used = len(rest) - len(d.unused_data)
        out.append(zlib.crc32(rest[:used]))
        rest = d.unused_data
    return out


def test_layout_and_salt_tree(tmp_path: Path) -> None:
    root = write_kube_root(tmp_path / "k", size_mb=1, version=SEED_VERSION)
    assert os.access(root / "build/release.sh", os.X_OK)
    top = yaml.safe_load((root / "cluster/saltbase/salt/top.sls").read_text())
    states = {s for targets in top["base"].values() for s in targets if isinstance(s, str)}
    for state in states - {"base"}:
        assert (root / f"cluster/saltbase/salt/{state}/init.sls").is_file(), state
    assert (root / "cluster/saltbase/salt/base.sls").is_file()
    salt = root / "cluster/saltbase/salt"
    # the RedHat path: flags in /etc/sysconfig/<name> (DAEMON_ARGS), a unit that reads them
    for unit in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        assert "DAEMON_ARGS=" in (salt / unit / "default").read_text(), unit
        assert f"EnvironmentFile=/etc/sysconfig/{unit}" in (salt / unit / f"{unit}.service").read_text(), unit
    assert "openssl" in (salt / "generate-cert/make-ca-cert.sh").read_text()
    # tokens and kubeconfigs are the provisioning's (the salt overlay), never in the tree
    assert not (salt / "kube-apiserver/known_tokens.csv").exists() and not (salt / "kubelet/kubeconfig").exists()
    machine = add_vagrant_machine(root, "master", "1234-abcd")
    assert (machine / "openstack/id").read_text() == "1234-abcd"
    write_kube_root(root, size_mb=1, version=SEED_VERSION)  # a refresh keeps the seed (and any _output)
    assert (root / ".vagrant/machines/master/openstack/id").exists()


def test_release_honours_platforms_and_tests(tmp_path: Path) -> None:
    root = write_kube_root(tmp_path / "k", size_mb=1, version=SEED_VERSION)
    done = build(root, KUBE_BUILD_PLATFORMS="linux/amd64 darwin/amd64", KUBE_RELEASE_RUN_TESTS="n")
    assert done.returncode == 0, done.stderr
    assert "Building go targets for linux/amd64:" in done.stdout
    assert "Building go targets for darwin/amd64:" in done.stdout
    assert "Running tests" not in done.stdout
    assert all(line.startswith(("+++ [", "    ")) for line in done.stdout.splitlines())
    tars = sorted(p.name for p in (root / "_output/release-tars").iterdir())
    # etcd's own release tar beside them: v1.2's etcd came as an image, the sandbox runs no containers
    assert tars == ["etcd-v2.2.1-linux-amd64.tar.gz",
                    "kubernetes-client-darwin-amd64.tar.gz", "kubernetes-client-linux-amd64.tar.gz",
                    "kubernetes-node-linux-amd64.tar.gz", "kubernetes-salt.tar.gz",
                    "kubernetes-server-linux-amd64.tar.gz", "kubernetes.tar.gz"]
    with tarfile.open(root / "_output/release-tars/kubernetes-server-linux-amd64.tar.gz") as tar:
        names = tar.getnames()
    assert "kubernetes/server/bin/kube-apiserver" in names and "kubernetes/server/bin/kubelet" in names
    with tarfile.open(root / "_output/release-tars/kubernetes-salt.tar.gz") as tar:
        assert "kubernetes/saltbase/salt/top.sls" in tar.getnames()
    assert (root / "_output/release-stage/server/linux-amd64/kubernetes/server/bin/kubelet").is_file()
    assert (root / "_output/dockerized/bin/darwin/amd64/kubectl").is_file()
    done = build(root, KUBE_FASTBUILD="true")  # no platforms given: fast build is linux/amd64 only
    assert done.returncode == 0
    assert "Running tests without code coverage" in done.stdout  # KUBE_RELEASE_RUN_TESTS defaults to y
    assert sorted(p.name for p in (root / "_output/release-tars").iterdir())[:2] == [
        "etcd-v2.2.1-linux-amd64.tar.gz", "kubernetes-client-linux-amd64.tar.gz"]


def test_rebuild_is_a_small_change_to_the_tars(tmp_path: Path) -> None:
    root = write_kube_root(tmp_path / "k", size_mb=4, seed="rebuild-test", version=SEED_VERSION)  # deterministic edits
    assert build(root, KUBE_BUILD_PLATFORMS="linux/amd64").returncode == 0
    tar = root / "_output/release-tars/kubernetes-server-linux-amd64.tar.gz"
    first = tar.read_bytes()
    assert build(root, KUBE_BUILD_PLATFORMS="linux/amd64").returncode == 0
    second = tar.read_bytes()
    assert first != second
    a, b = members(first), members(second)
    shared = len(set(a) & set(b))
    assert shared >= 0.8 * len(a), (shared, len(a))  # content-defined gzip members: most survive
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(second))) as t:
        assert len(t.getnames()) == 7
