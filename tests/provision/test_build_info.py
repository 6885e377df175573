"""The build's version and programs come from its release tars; the push sends the right tree."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from workbench.engine.provision.build_info import read_build_info
from workbench.engine.provision.tree import PACKAGED_TREE
from workbench.engine.push.manifest import select_sources
from workbench.errors import WorkbenchError
from workbench.profile import profile_from_mapping
from workbench.state import StateDir


def tar_with(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def test_version_and_programs_from_the_server_tar(tmp_path):
    tars = tmp_path / "_output" / "release-tars"
    tar_with(tars / "kubernetes-server-linux-amd64.tar.gz", {
        "kubernetes/server/bin/kube-apiserver": b"x", "kubernetes/server/bin/etcd": b"x",
        "kubernetes/server/bin/kube-apiserver.docker_tag": b"v1.32.3\n", "kubernetes/version": b"v1.32.3\n"})
    state = StateDir(tmp_path / "state").ensure()
    info = read_build_info(tmp_path, state)
    assert info.version == "v1.32.3" and info.server_programs == ("etcd", "kube-apiserver")
    info.check_supported()
    (tars / "kubernetes-server-linux-amd64.tar.gz").write_bytes(b"garbage")  # a new tar: the cache key changes
    with pytest.raises(WorkbenchError, match="unreadable release tar"):
        read_build_info(tmp_path, state)


def test_docker_tag_when_no_version_file_and_old_versions_refused(tmp_path):
    tar_with(tmp_path / "_output/release-tars/kubernetes-server-linux-amd64.tar.gz",
             {"kubernetes/server/bin/kube-apiserver.docker_tag": b"v1.29.0-alpha.1.5+abcdef\n"})
    info = read_build_info(tmp_path)
    assert info.version == "v1.29.0-alpha.1.5+abcdef" and info.minor == (1, 29)
    with pytest.raises(WorkbenchError, match=r"provisions 1\.30, 1\.31, 1\.32, 1\.33"):
        info.check_supported()


def test_no_build_is_one_line(tmp_path):
    with pytest.raises(WorkbenchError, match="no server release tar; build first"):
        read_build_info(tmp_path)


def test_push_sends_the_packaged_tree_without_saltbase(tmp_path):
    tar_with(tmp_path / "_output/release-tars/kubernetes-server-linux-amd64.tar.gz", {"kubernetes/version": b"v1.32.3"})
    profile = profile_from_mapping({"kube": {"root": str(tmp_path)}}, tmp_path / "p.toml", {})
    dests = {s.dest: s.path for s in select_sources(profile)}
    assert dests["/srv/salt/top.sls"] == PACKAGED_TREE / "top.sls"
    assert "/srv/salt/kubelet/init.sls" in dests
    seed = tmp_path / "cluster" / "saltbase" / "salt"
    seed.mkdir(parents=True)
    (seed / "top.sls").write_text("base: {}\n")
    assert {s.dest: s.path for s in select_sources(profile)}["/srv/salt/top.sls"] == seed / "top.sls"
