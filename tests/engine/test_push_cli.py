"""``workbench push --json`` through the real CLI against a sandbox cluster brought up by ``up``.

The node's disk is the sandbox's ``STATE/nodes/<server id>/root``, so the test compares the
pushed files with the build byte for byte, without trusting the push's own report.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.cli.test_cloud_cli_helpers import wb_json
from workbench.engine.provision.tree import salt_tree
from workbench.profile import load_profile

from .test_push_sandbox import build


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wanted(root: Path) -> dict[str, str]:
    """What a node must hold: linux/amd64 tars, the generic ones, and the salt tree (the
    workbench's own, as KUBE_ROOT has no cluster/saltbase)."""
    out = {}
    for tar in (root / "_output" / "release-tars").glob("*.tar.gz"):
        generic = tar.name in ("kubernetes-salt.tar.gz", "kubernetes-manifests.tar.gz")
        if ("linux-amd64" in tar.name or generic) and "-test" not in tar.name:
            out[f"srv/kube-release/{tar.name}"] = sha(tar)
    salt = salt_tree(root)
    out |= {f"srv/salt/{p.relative_to(salt).as_posix()}": sha(p) for p in salt.rglob("*") if p.is_file()}
    return out


def held(node_root: Path) -> dict[str, str]:
    out = {}
    for top in ("srv/kube-release", "srv/salt"):
        base = node_root / top
        out |= {str(p.relative_to(node_root)): sha(p) for p in base.rglob("*") if p.is_file()} if base.exists() else {}
    return out


def test_push_json_updates_every_node_then_sends_nothing_then_prunes(make_sandbox: Any) -> None:
    box = make_sandbox(minions=2)
    profile = str(box.profile_path)
    root = load_profile(profile, environ={}).kube.root
    assert root is not None
    build(root)
    up = wb_json("up", "--profile", profile)
    assert up["ok"] is True
    roots = {i["name"]: Path(box.state_dir) / "nodes" / i["id"] / "root" for i in up["instances"]}

    first = wb_json("push", "--profile", profile)
    assert {n["name"] for n in first["nodes"]} == set(roots)
    assert all(n["ok"] and n["files_changed"] > 0 for n in first["nodes"]), first
    assert first["bytes_from_workstation"] > 0
    want = wanted(root)
    for name, node_root in roots.items():
        got = held(node_root)
        assert {k: v for k, v in got.items() if k in want} == want, name

    again = wb_json("push", "--profile", profile, "--direct")
    assert all(n["ok"] and n["files_changed"] == 0 and n["bytes_sent"] == 0 for n in again["nodes"]), again

    build(root)  # a rebuild: one or two binaries change a little
    dry = wb_json("push", "--profile", profile, "--dry-run")
    assert dry["dry_run"] is True and all(n["files_changed"] > 0 for n in dry["nodes"])
    assert all(held(r) == {k: v for k, v in want.items()} | extra(held(r), want) for r in roots.values())

    dropped = next(t for t in (root / "_output" / "release-tars").glob("kubernetes-client-linux-amd64*.tar.gz"))
    dropped.unlink()  # a build that no longer makes this tar
    rebuilt = wb_json("push", "--profile", profile)
    assert all(n["ok"] and n["files_removed"] == 1 for n in rebuilt["nodes"]), rebuilt
    want = wanted(root)
    gone = f"srv/kube-release/{dropped.name}"
    for node_root in roots.values():
        got = held(node_root)
        assert {k: v for k, v in got.items() if k in want} == want
        assert gone not in got


def extra(got: dict[str, str], want: dict[str, str]) -> dict[str, str]:
    """Files on the node that the push does not manage (left alone by a dry run)."""
    return {k: v for k, v in got.items() if k not in want}
