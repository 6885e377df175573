"""The fake KUBE_ROOT for a current release (v1.32): Kubernetes' own tar layout, etcd's tar,
the version chosen as hack/lib/version.sh chooses it, and rebuilds that stay small."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

from tests.sandbox.test_kuberoot import members
from workbench.sandbox.kuberoot import CURRENT_VERSION, write_kube_root

SERVER_BINS = ["kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet"]


def build(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "WORKBENCH_FAKE_BUILD_SECONDS": "0", "KUBE_BUILD_PLATFORMS": "linux/amd64",
            "KUBE_RELEASE_RUN_TESTS": "n", **env}
    for name in ("KUBE_GIT_VERSION", "KUBE_GIT_VERSION_FILE"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run(["build/release.sh"], cwd=root, env=full, capture_output=True, text=True, timeout=120)


def names(tar: Path) -> list[str]:
    with tarfile.open(tar) as t:
        return sorted(t.getnames())


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_current_release_layout(tmp_path: Path) -> None:
    root = write_kube_root(tmp_path / "k", size_mb=2)
    assert CURRENT_VERSION.startswith("v1.32.")
    assert not (root / "cluster" / "saltbase").exists()  # removed from Kubernetes in 1.10
    done = build(root)
    assert done.returncode == 0, done.stderr
    assert "Building tarball: salt" not in done.stdout
    tars = root / "_output" / "release-tars"
    assert sorted(p.name for p in tars.iterdir()) == [
        "etcd-v3.5.16-linux-amd64.tar.gz", "kubernetes-client-linux-amd64.tar.gz",
        "kubernetes-node-linux-amd64.tar.gz", "kubernetes-server-linux-amd64.tar.gz", "kubernetes.tar.gz"]
    server = names(tars / "kubernetes-server-linux-amd64.tar.gz")
    assert [n for n in server if n.startswith("kubernetes/server/bin/") and "." not in n.rsplit("/", 1)[1]] == \
        [f"kubernetes/server/bin/{b}" for b in SERVER_BINS]
    assert "kubernetes/server/bin/kube-apiserver.docker_tag" in server
    assert names(tars / "kubernetes-node-linux-amd64.tar.gz") == [
        "kubernetes/node/bin/kube-proxy", "kubernetes/node/bin/kubectl", "kubernetes/node/bin/kubelet"]
    assert names(tars / "kubernetes-client-linux-amd64.tar.gz") == ["kubernetes/client/bin/kubectl"]
    assert names(tars / "etcd-v3.5.16-linux-amd64.tar.gz") == [
        "etcd-v3.5.16-linux-amd64/README.md", "etcd-v3.5.16-linux-amd64/etcd"]
    bins = root / "_output" / "dockerized" / "bin" / "linux" / "amd64"
    apiserver = bins / "kube-apiserver"
    assert apiserver.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert apiserver.stat().st_size > 0.2 * 2 * 1024 * 1024  # padded to a binary's share of the size
    assert subprocess.run([str(apiserver), "--version"], capture_output=True, text=True).stdout == "Kubernetes v1.32.4\n"


def test_version_named_by_the_user(tmp_path: Path) -> None:
    root = write_kube_root(tmp_path / "k", size_mb=1)
    assert build(root, KUBE_GIT_VERSION="v1.32.9").returncode == 0
    kubelet = root / "_output/dockerized/bin/linux/amd64/kubelet"
    assert subprocess.run([str(kubelet), "--version"], capture_output=True, text=True).stdout == "Kubernetes v1.32.9\n"
    version_file = tmp_path / "version.env"
    version_file.write_text("KUBE_GIT_VERSION='v1.32.1'\nKUBE_GIT_MAJOR='1'\n")
    assert build(root, KUBE_GIT_VERSION_FILE=str(version_file)).returncode == 0
    assert subprocess.run([str(kubelet), "--version"], capture_output=True, text=True).stdout == "Kubernetes v1.32.1\n"
    with tarfile.open(root / "_output/release-tars/kubernetes.tar.gz") as t:
        member = t.extractfile("kubernetes/version")
        assert member is not None and member.read() == b"v1.32.1\n"


def test_rebuilds_change_one_or_two_programs_deterministically(tmp_path: Path) -> None:
    roots = [write_kube_root(tmp_path / name, size_mb=6, seed="same-seed") for name in ("a", "b")]
    for root in roots:
        assert build(root).returncode == 0
    bins = [root / "_output/dockerized/bin/linux/amd64" for root in roots]
    server_tar = roots[0] / "_output/release-tars/kubernetes-server-linux-amd64.tar.gz"
    before = members(server_tar.read_bytes())
    first = digests(bins[0])
    assert first == digests(bins[1])  # same seed, same bytes
    for root in roots:
        assert build(root).returncode == 0
    second = digests(bins[0])
    assert second == digests(bins[1])
    changed = [name for name in first if first[name] != second[name]]
    assert 1 <= len(changed) <= 2, changed
    after = members(server_tar.read_bytes())
    shared = len(set(before) & set(after))
    assert shared >= 0.8 * len(before), (shared, len(before))  # the rsyncable gzip: most members survive
    for name in changed:  # a rebuilt program still runs: only its padding moved
        args = ["version", "--client"] if name == "kubectl" else ["--version"]
        done = subprocess.run([str(bins[0] / name), *args], capture_output=True, text=True)
        assert "v1.32.4" in done.stdout
