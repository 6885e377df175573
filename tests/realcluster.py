"""A cluster the workbench itself brought up on a sandbox: `workbench redeploy` from an empty
cloud, as a user runs it (the CLI in a subprocess), with real Salt on every node and the
fake build's v1.32 programs running from the units Salt wrote.

No tests here. ``real_cluster`` (tests/conftest.py) shares one such cluster across the
session for the tests that are not about provisioning; a test that breaks a node brings
up its own with ``bring_up(make_sandbox(...))``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workbench.profile import Profile, load_profile
from workbench.state import StateDir

ROOT = Path(__file__).resolve().parents[1]


def real_salt_or_skip() -> None:
    """Real Salt is the install step's `.salt` venv (README); without it there is no cluster."""
    from workbench.sandbox.nodes.image import salt_venv

    if salt_venv() is None:
        pytest.skip("real Salt is not installed (.salt/ venv; see README)")


@dataclass
class RealCluster:
    box: Any  # SandboxThread
    profile_path: Path
    redeploy: dict[str, Any]  # `workbench --json redeploy`'s document
    first_pki: dict[str, str]  # credentials right after the first redeploy (``pki_snapshot``)

    @property
    def profile(self) -> Profile:
        return load_profile(self.profile_path, environ={})

    @property
    def state(self) -> StateDir:
        return StateDir(self.profile.resolved_state_dir())

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state.root / "admin.kubeconfig"

    def cli(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``workbench --profile P ARGS`` as a user runs it."""
        return cli(self.profile_path, *args, timeout=timeout, check=check)

    def ssh(self, node: str, command: str, *, timeout: float = 120, check: bool = True) -> str:
        done = self.cli("ssh", node, "--", command, timeout=timeout, check=check)
        return done.stdout

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.skip("kubectl is not installed")  # ready_nodes() still checks, over HTTP
        return subprocess.run([kubectl, f"--kubeconfig={self.admin_kubeconfig}", *args],
                              capture_output=True, text=True, timeout=timeout)

    def pki_snapshot(self) -> dict[str, str]:
        """sha256 of every credential: the state dir's PKI and admin kubeconfig, and on each
        node the certificates, keys and kubeconfigs Salt put there."""
        import hashlib

        out = {f"workstation:{p.relative_to(self.state.root)}": hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted([*(self.state.root / "pki").glob("*"), self.admin_kubeconfig]) if p.is_file()}
        for node, _, _ in self.profile.node_plan():  # the sandbox's size: 1 master + its minions
            text = self.ssh(node, "sudo sh -c 'sha256sum /etc/kubernetes/pki/* /etc/kubernetes/*.kubeconfig "
                                  "/var/lib/kubelet/kubeconfig /var/lib/kube-proxy/kubeconfig 2>/dev/null; true'")
            for line in text.splitlines():
                digest, path = line.split(maxsplit=1)
                out[f"{node}:{path}"] = digest
        return out

    def ready_nodes(self) -> dict[str, str]:
        """{node: kubelet version} of the nodes the real kubectl shows Ready (without kubectl
        on the machine: the engine's own HTTP client, `workbench info --no-kubectl`)."""
        if shutil.which("kubectl") is None:
            doc = json.loads(self.cli("--json", "info", "--no-kubectl").stdout)
            return {n["name"]: n["version"] for n in doc["nodes"] if n["ready"]}
        done = self.kubectl("get", "nodes", "-o", "json")
        assert done.returncode == 0, done.stderr
        return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"]
                for n in json.loads(done.stdout)["items"]
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}


def cli(profile: Path, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = subprocess.run([sys.executable, "-m", "workbench", "--profile", str(profile), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if check and done.returncode != 0:
        raise AssertionError(f"workbench {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    return done


def bring_up(box: Any, *, edit_profile: Callable[[str], str] | None = None) -> RealCluster:
    """`workbench --json redeploy` on a fresh sandbox: build, up, push, provision, verify."""
    real_salt_or_skip()
    profile = Path(box.profile_path)
    if edit_profile is not None:
        profile.write_text(edit_profile(profile.read_text()))
    done = cli(profile, "--json", "redeploy", timeout=900)
    cluster = RealCluster(box, profile, json.loads(done.stdout), {})
    cluster.first_pki = cluster.pki_snapshot()
    return cluster


def poll(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """``check()``'s first truthy value within ``seconds``, else AssertionError naming ``what``."""
    end = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.2)
