"""The workbench's tree, as real Salt renders it, drives the fake build's v1.32 programs: the
files its states would write and the ExecStart lines of its units, with the node paths moved
under a temp dir and every component on its node's own loopback address (listen = "node-ip",
as the sandbox's nodes need), bring up etcd, the control plane,
a kubelet and kube-proxy; the real kubectl, with the workbench's admin.kubeconfig, sees the
minion Ready at the build's version. (Not Salt applying them: that needs the sandbox's
machine-like nodes. This checks the flags, files, certificates and kubeconfigs together.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

import workbench.sandbox.kuberoot as kuberoot
from tests.provision.salt_render import salt_call, write_node
from workbench.engine.provision import tree
from workbench.engine.provision.bundle import current_bundle
from workbench.engine.provision.cluster import NodeAddress
from workbench.engine.provision.pki import ClusterPKI
from workbench.engine.provision.run import plan, write_admin_kubeconfig
from workbench.profile import profile_from_mapping
from workbench.state import StateDir

pytestmark = [
    pytest.mark.skipif(not hasattr(kuberoot, "CURRENT_VERSION"), reason="the fake build has no v1.32 programs yet"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]


def file_states(local: dict) -> dict[str, dict]:
    out = {}
    for sid, state in local.items():
        body = state.get("file")
        if not body or "managed" not in body:
            continue
        args = {k: v for item in body if isinstance(item, dict) for k, v in item.items()}
        out[args.get("name", sid)] = args
    return out


def materialise(local: dict, pillar: dict, rewrite, root: Path) -> None:
    """Write what each file.managed state would write (contents, contents_pillar, the kubeconfig template)."""
    template = jinja2.Template((tree.PACKAGED_TREE / "common" / "kubeconfig.jinja").read_text())
    for name, args in file_states(local).items():
        if "contents" in args:
            data = args["contents"]
        elif "contents_pillar" in args:
            top, key = args["contents_pillar"].split(":")
            data = pillar[top][key]
        elif args.get("source") == "salt://common/kubeconfig.jinja":
            data = template.render(**args["context"])
        else:
            continue  # programs (run from the unpacked release) and addon manifests
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rewrite(data))
        path.chmod(int(str(args.get("mode", "0644")), 8))


def exec_start(local: dict, unit: str, rewrite) -> list[str]:
    contents = file_states(local)[f"/etc/systemd/system/{unit}.service"]["contents"]
    line = next(ln for ln in re.sub(r"\\\n\s*", " ", contents).splitlines() if ln.startswith("ExecStart="))
    return rewrite(line.removeprefix("ExecStart=")).split()


def test_rendered_tree_runs_the_v1_32_programs(tmp_path):
    from tests.sandbox.kubeprog_helpers import (
        Processes,
        build_release,
        loopback,
        poll,
        unpack,
    )

    tars = build_release(tmp_path / "kube")
    release = unpack(tars, tmp_path / "release")
    master_ip, minion_ip = loopback(), loopback()
    profile = profile_from_mapping({"kube": {"root": str(tmp_path / "kube"), "pod_network": "none", "addons": [],
                                             "listen": "node-ip"},
                                    "cluster": {"minions": 1}}, tmp_path / "p.toml", {})
    state = StateDir(tmp_path / "state").ensure()
    spec = plan(profile, state, [NodeAddress("kubernetes-master", "master", master_ip, None),
                                 NodeAddress("kubernetes-minion-1", "minion", minion_ip, None)])
    assert spec.version == kuberoot.CURRENT_VERSION and spec.etcd_tar
    pki = ClusterPKI(state)
    bin_dir = release / "kubernetes" / "server" / "bin"
    etcd_bin = next(release.glob("etcd-v*/etcd"))
    def rewriter(root: Path):
        def rewrite(text: str) -> str:
            text = text.replace("/usr/local/bin/etcd", str(etcd_bin)).replace("/usr/local/bin", str(bin_dir))
            for prefix in ("/etc/kubernetes", "/var/lib/"):
                text = text.replace(prefix, f"{root}{prefix}")
            return text  # addresses: listen = "node-ip" puts each component on its node's own
        return rewrite

    procs = Processes(tmp_path / "logs")
    try:
        for node, units in ((spec.master, ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")),
                            (spec.minions[0], ("kubelet", "kube-proxy"))):
            bundle = current_bundle(spec, node, pki)
            conf = write_node(bundle, tmp_path / "salt" / node.name, [str(tree.PACKAGED_TREE)])
            code, out, err = salt_call(conf, "state.show_highstate")
            assert code == 0, (out, err)
            pillar = {**yaml.safe_load(bundle.file("/srv/pillar/cluster.sls").data),
                      **yaml.safe_load(bundle.file("/srv/pillar/secrets.sls").data)}
            root = tmp_path / "nodes" / node.name
            rewrite = rewriter(root)
            materialise(out["local"], pillar, rewrite, root)
            for unit in units:
                procs.start(unit, exec_start(out["local"], unit, rewrite))
                if unit == "kube-apiserver":
                    poll(lambda: "Serving securely" in procs.log("kube-apiserver") or procs.running["kube-apiserver"].poll() is not None,
                         30, "the API server")
        kubeconfig = write_admin_kubeconfig(state, spec)

        def ready():
            done = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", "get", "nodes", "-o", "json"],
                                  capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                return None
            items = json.loads(done.stdout)["items"]
            return [(n["metadata"]["name"], n["status"]["nodeInfo"]["kubeletVersion"]) for n in items
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]

        try:
            seen = poll(ready, 60, "the minion Ready")
        except AssertionError:
            logs = {name: procs.log(name)[-1500:] for name in procs.running}
            raise AssertionError(json.dumps(logs, indent=1)) from None
        assert seen == [("kubernetes-minion-1", kuberoot.CURRENT_VERSION)]
        # `workbench info` finds the server and the admin credential in the state dir alone
        (tmp_path / "p.toml").write_text(f'state_dir = "{state.root}"\n[kube]\nroot = "{tmp_path / "kube"}"\n')
        info = subprocess.run([sys.executable, "-m", "workbench", "info", "--profile", str(tmp_path / "p.toml"),
                               "--json", "--no-kubectl"], capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert [n["name"] for n in json.loads(info.stdout)["nodes"]] == ["kubernetes-minion-1"]
        assert all(p.poll() is None for p in procs.running.values()), {n: procs.log(n)[-800:] for n in procs.running}
    finally:
        procs.stop_all()
