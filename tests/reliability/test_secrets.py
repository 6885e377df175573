"""Secrets canary: unique secret values never reach an output.

The cloud password (clouds.yaml) and the cluster token (state dir) are seeded canaries;
the SSH private key, every private key the workbench makes for the cluster (its PKI in the
state dir) and every private key in the nodes' ``secrets.sls`` pillar are watched too. The
whole loop runs headless through the real CLI on a cluster it provisions with its own tree
and real Salt (build, up, push, salt, salt again, doctor and doctor --fix --yes, status,
info with and without kubectl, down), with --json and without, once more with
openstacksdk's debug logging on. No watched secret may appear in any stdout, stderr or
file the workbench wrote, except the files that must store one, which are 0600.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import count
from .helpers import REPO, cli_env, wb

#: Files that must hold a secret (relative to the sandbox state dir, fnmatch); each must be 0600.
MAY_HOLD = ("clouds.yaml", "cloud.json", "workbench_key", "sandbox.json", "workbench/cluster-token",
            "workbench/kubeconfig", "workbench/admin.kubeconfig", "workbench/pki/*.pem",
            "workbench/pki/service-account.key")
#: The cloud's and the nodes' side: not the workbench's outputs.
NOT_OURS = ("nodes/", "kube-root/")

DEBUG_MAIN = ("import sys, openstack; openstack.enable_logging(debug=True, http_debug=True, stream=sys.stderr); "
              "from workbench.cli import main; sys.exit(main())")


def seed_canaries(make_sandbox: Callable[..., Any], tmp_path: Path) -> tuple[Any, dict[str, str]]:
    """A sandbox whose password and cluster token are fresh canaries."""
    state_dir = tmp_path / "canary-sandbox"
    first = make_sandbox(minions=2, state_dir=state_dir)
    first.stop()
    canaries = {
        "password": "pwCanary" + secrets.token_hex(10),
        "cluster-token": "tokCanary" + secrets.token_hex(10),
    }
    cloud_json = state_dir / "cloud.json"
    doc = json.loads(cloud_json.read_text())
    doc["password"] = canaries["password"]
    cloud_json.write_text(json.dumps(doc))
    (state_dir / "workbench").mkdir(exist_ok=True, mode=0o700)
    token_path = state_dir / "workbench" / "cluster-token"
    token_path.write_text(canaries["cluster-token"] + "\n")
    token_path.chmod(0o600)
    box = make_sandbox(minions=2, state_dir=state_dir)
    assert canaries["password"] in box.clouds_path.read_text()
    return box, canaries


def key_material(path: Path) -> list[str]:
    """The private key's base64 body lines: any of them in an output is a leak."""
    lines = path.read_text().splitlines()
    return [line for line in lines if len(line) >= 16 and "PRIVATE KEY" not in line]


PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\n.*?-----END [A-Z ]*PRIVATE KEY-----\n?", re.S)


def private_keys(text: str) -> dict[str, str]:
    """Each private key in ``text``: its body lines, and a slice of the whole PEM in base64
    (as a kubeconfig's client-key-data carries it)."""
    found: dict[str, str] = {}
    for pem in PEM_KEY.findall(text):
        body = [line for line in pem.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]
        tag = body[0][-12:]
        found |= {f"key {tag} line {i}": line for i, line in enumerate(body)}
        found[f"key {tag} as base64"] = base64.b64encode(pem.encode()).decode()[48:108]
    return found


def cluster_keys(box: Any) -> dict[str, str]:
    """The private keys the workbench made (state dir PKI) and those the nodes' pillar holds."""
    found: dict[str, str] = {}
    for path in sorted((box.state_dir / "workbench" / "pki").glob("*")):
        found |= private_keys(path.read_text())
    for path in sorted((box.state_dir / "nodes").glob("*/root/srv/pillar/secrets.sls")):
        found |= private_keys(path.read_text())
    return found


def node_tokens(box: Any) -> set[str]:
    """Every token the nodes hold now (known_tokens.csv, kubelet kubeconfigs)."""
    found: set[str] = set()
    for path in (box.state_dir / "nodes").glob("*/root/srv/kubernetes/known_tokens.csv"):
        found |= {line.split(",")[0] for line in path.read_text().splitlines() if line.strip()}
    for path in (box.state_dir / "nodes").glob("*/root/var/lib/kubelet/kubeconfig"):
        found |= set(re.findall(r"^\s*token:\s*(\S+)\s*$", path.read_text(), re.M))
    return {t for t in found if len(t) >= 8}


def scan(texts: dict[str, str], secrets_: dict[str, str]) -> list[str]:
    return [f"{what} in {where}" for where, text in texts.items()
            for what, secret in secrets_.items() if secret in text]


def outputs_of_files(box: Any) -> tuple[dict[str, str], list[str]]:
    """(files the workbench may have written -> text, files that must hold a secret but are not 0600)."""
    texts: dict[str, str] = {}
    loose: list[str] = []
    for path in sorted(box.state_dir.rglob("*")):
        rel = path.relative_to(box.state_dir).as_posix()
        if not path.is_file() or rel.startswith(NOT_OURS):
            continue
        if any(fnmatch.fnmatch(rel, pattern) for pattern in MAY_HOLD):
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                loose.append(f"{rel} is {oct(stat.S_IMODE(path.stat().st_mode))}")
            continue
        texts[rel] = path.read_bytes().decode("utf-8", "replace")
    return texts, loose


@pytest.mark.slow
def test_no_canary_in_any_output_of_the_headless_loop(make_sandbox: Callable[..., Any], tmp_path: Path) -> None:
    box, canaries = seed_canaries(make_sandbox, tmp_path)
    outputs: dict[str, str] = {}

    def run(*args: str, json_out: bool = True, expect: int | None = 0, debug: bool = False) -> Any:
        if debug:
            import subprocess

            proc = subprocess.run([sys.executable, "-c", DEBUG_MAIN, *args, "--profile", str(box.profile_path)],
                                  cwd=REPO, env=cli_env(box), text=True, capture_output=True, timeout=180,
                                  stdin=subprocess.DEVNULL)
        else:
            proc = wb(box, *args, json_out=json_out)
        label = " ".join(args) + (" --json" if json_out else "") + (" (sdk debug)" if debug else "")
        outputs[f"stdout of {label}"] = proc.stdout
        outputs[f"stderr of {label}"] = proc.stderr
        if expect is not None:
            assert proc.returncode == expect, f"{label}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        return proc

    run("build")
    run("up")
    run("push")
    run("salt")
    run("salt", "--nodes", "kubernetes-master")
    run("salt", json_out=False)
    run("doctor", expect=None)
    run("doctor", "--fix", "--yes", expect=None)
    run("doctor", "--fix", "--yes", json_out=False, expect=None)
    run("status")
    run("status", json_out=False)
    debug = run("status", debug=True, json_out=False)
    assert "X-Auth-Token" in debug.stderr  # the SDK's debug log really ran
    run("up", json_out=False)
    nodes = json.loads(run("info").stdout)["nodes"]
    assert [n["ready"] for n in nodes] == [True, True], nodes  # provisioned: the keys were used
    run("info", json_out=False)
    run("info", "--no-kubectl", json_out=False)
    keys = cluster_keys(box)
    tokens = node_tokens(box)
    run("down", "--yes")
    run("down", "--yes", debug=True, json_out=False)

    watched = dict(canaries)
    watched |= {f"ssh private key line {i}": line for i, line in enumerate(key_material(box.private_key_path))}
    watched |= keys
    watched |= {f"node token {t[:4]}": t for t in tokens}
    assert sum(1 for name in keys if name.endswith("as base64")) >= 10, sorted(keys)  # CA, SA, every component's
    files, loose = outputs_of_files(box)
    leaks = scan(outputs, watched) + scan(files, watched)
    count("canary secrets watched", len(watched))
    count("canary outputs scanned", len(outputs) + len(files))
    assert not loose, loose
    assert not leaks, leaks
