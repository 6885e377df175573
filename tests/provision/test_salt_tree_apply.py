"""Real Salt applies the tree's kube-bins state (paths moved under a temp dir through pillar):
programs unpacked from the pushed tar and installed, a second run changes nothing, a rebuild
changes only the program that changed (so only its service would restart)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.provision.salt_render import salt_call, write_node
from tests.provision.test_salt_tree_render import spec_for
from workbench.engine.provision import tree
from workbench.engine.provision.bundle import current_bundle
from workbench.engine.provision.pki import ClusterPKI
from workbench.state import StateDir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the states install programs owned by root")
PROGRAMS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def server_tar(path: Path, generation: int, mtime: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in PROGRAMS:
            data = f"\x7fELF {name} {generation if name == 'kube-scheduler' else 0}".encode()
            info = tarfile.TarInfo(f"kubernetes/server/bin/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    os.utime(path, (mtime, mtime))


def changed(out: object) -> set[str]:
    assert isinstance(out, dict) and isinstance(out["local"], dict), out
    results = out["local"].values()
    assert all(r["result"] is True for r in results), out
    return {r["__id__"] for r in results if r["changes"]}


def test_kube_bins_apply_idempotent_and_per_program(tmp_path):
    spec = spec_for(tmp_path)
    bundle = current_bundle(spec, spec.master, ClusterPKI(StateDir(tmp_path / "state").ensure()))
    root = tmp_path / "node"
    conf = write_node(bundle, root, [str(tree.PACKAGED_TREE)])
    cluster = root / "srv/pillar/cluster.sls"
    params = yaml.safe_load(cluster.read_text())
    tar = tmp_path / "kubernetes-server-linux-amd64.tar.gz"
    params["kube"]["bins"].update(tar=str(tar), dir=str(tmp_path / "unpacked"), install_dir=str(tmp_path / "bin"))
    cluster.write_text(yaml.safe_dump(params))
    server_tar(tar, 1, 1_700_000_000)

    code, out, err = salt_call(conf, "state.sls", "kube-bins")
    assert code == 0, (out, err)
    assert changed(out) == {"kube-bins-unpacked", *(f"kube-bin-{p}" for p in PROGRAMS)}
    installed = tmp_path / "bin" / "kube-scheduler"
    assert installed.read_bytes() == b"\x7fELF kube-scheduler 1" and installed.stat().st_mode & 0o777 == 0o755

    code, out, err = salt_call(conf, "state.sls", "kube-bins")
    assert code == 0 and changed(out) == set(), (out, err)

    server_tar(tar, 2, 1_700_000_100)  # a rebuild pushed: only kube-scheduler differs
    code, out, err = salt_call(conf, "state.sls", "kube-bins")
    assert code == 0 and changed(out) == {"kube-bins-unpacked", "kube-bin-kube-scheduler"}, (out, err)
    assert installed.read_bytes() == b"\x7fELF kube-scheduler 2"
