"""Crash recovery: SIGKILL ``workbench up|down|push`` at seeded random points, then rerun.

After every kill the state dir's JSON files parse; a rerun converges (up: exactly the
plan, ACTIVE on the right IPs, one floating IP each; down: nothing of ours left; push:
every node holds the new build), and nothing of ours leaks in the cloud. A push killed
midway leaves every node file whole: the old build's or the new one's, never a mix.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workbench.profile import load_profile
from workbench.sandbox.core import Delays

from .conftest import count
from .helpers import REPO, argv, cli_env, converged, ours, state_files_parse, wb_json

SEED = int(os.environ.get("WORKBENCH_CRASH_SEED", "9"))
ROUNDS = int(os.environ.get("WORKBENCH_CRASH_ROUNDS", "6"))
SLOWER = Delays().scale(0.1)  # boots of 0.3 s: windows wide enough for a kill to land mid-way
BIG = {"WORKBENCH_FAKE_BINARY_MB": "8"}  # a push long enough to be killed midway


START = 0.15  # a kill before the child has imported anything proves little


def timed(box: Any, *args: str) -> tuple[dict[str, Any], float]:
    t0 = time.monotonic()
    doc = wb_json(box, *args)
    return doc, time.monotonic() - t0


def pushed_ok(doc: dict[str, Any]) -> bool:
    return bool(doc["nodes"]) and all(n["ok"] for n in doc["nodes"])


def kill_at_random(box: Any, rng: random.Random, low: float, high: float, *args: str) -> str:
    """Start the verb, SIGKILL it after a random delay in [low, high]; returns how it ended."""
    proc = subprocess.Popen(argv(box, *args), cwd=REPO, env=cli_env(box), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        delay = rng.uniform(low, high)
        try:
            proc.wait(timeout=delay)  # the kill point; finishing first is also an outcome
            outcome = "finished before the kill"
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            outcome = f"killed after {delay:.2f} s"
            count(f"crash kills landed: {args[0]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    count(f"crash runs: {args[0]}")
    return outcome


@pytest.mark.slow
def test_up_and_down_killed_at_random_points_converge_on_rerun(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=2, delays=SLOWER)
    plan = load_profile(box.profile_path).node_plan()
    state = box.state_dir / "workbench"
    rng = random.Random(SEED)
    outcomes = []
    up_s, down_s = 0.9, 0.45  # the longest clean rerun seen so far
    for _ in range(ROUNDS):
        outcomes.append(kill_at_random(box, rng, START, max(0.9 * up_s, START + 0.2), "up"))
        state_files_parse(state)
        doc, took = timed(box, "up")
        up_s = max(up_s, took)
        assert doc["ok"], doc
        converged(box, plan)
        count("crash runs survived")
        if not ours(box)["servers"]:
            continue
        outcomes.append(kill_at_random(box, rng, START, max(0.9 * down_s, START + 0.2), "down", "--yes"))
        state_files_parse(state)
        down, took = timed(box, "down", "--yes")
        down_s = max(down_s, took)
        assert down["remaining"] == []
        assert ours(box) == {"servers": [], "ports": [], "floating_ips": []}
        count("crash runs survived")
    assert any(o.startswith("killed") for o in outcomes), outcomes
    print("outcomes:", outcomes)


def release_files(box: Any) -> dict[str, str]:
    """What a push must deliver: local tar name -> sha256."""
    tars = Path(box.kube_root) / "_output" / "release-tars"
    return {t.name: hashlib.sha256(t.read_bytes()).hexdigest() for t in sorted(tars.glob("*.tar.gz"))
            if ("linux-amd64" in t.name or t.name in ("kubernetes-salt.tar.gz", "kubernetes-manifests.tar.gz"))
            and "-test" not in t.name}


def node_files(box: Any, names: list[str]) -> dict[str, dict[str, str | None]]:
    """node name -> tar name -> sha256 of the file on the node's disk (None: absent)."""
    out: dict[str, dict[str, str | None]] = {}
    for server in list(box.cloud.store.servers.values()):
        root = box.state_dir / "nodes" / server["id"] / "root" / "srv" / "kube-release"
        out[server["name"]] = {
            n: hashlib.sha256((root / n).read_bytes()).hexdigest() if (root / n).is_file() else None for n in names
        }
    return out


@pytest.mark.slow
def test_push_killed_at_random_points_never_leaves_a_half_file(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=2)
    state = box.state_dir / "workbench"
    rng = random.Random(SEED + 1)
    wb_json(box, "build", env=BIG)
    wb_json(box, "up")
    first, push_s = timed(box, "push")
    assert pushed_ok(first), first
    for _ in range(ROUNDS - 1):
        old = release_files(box)
        wb_json(box, "build", env=BIG)  # a rebuild: a few binaries change a little
        new = release_files(box)
        assert old != new
        t0 = time.monotonic()
        print("push:", kill_at_random(box, rng, START, max(0.9 * push_s, START + 0.2), "push"))
        for node, files in node_files(box, sorted(new)).items():
            for name, digest in files.items():
                assert digest in (old[name], new[name]), f"{node}:{name} is neither the old nor the new build"
        state_files_parse(state)
        again, push_s = timed(box, "push")
        assert pushed_ok(again), again
        for node, files in node_files(box, sorted(new)).items():
            assert files == new, f"{node} does not hold the new build after the rerun"
        count("crash runs survived")
        print(f"push round {time.monotonic() - t0:.1f} s")
    assert ours(box)["servers"]
