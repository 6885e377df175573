"""Faults from nodes: a node dies (out-of-band delete) while Salt or a push runs on it.

The other nodes finish, the dead one is reported by name with exit status 1, and after
``up`` recreates the member a rerun (push, then salt) repairs the whole cluster.
"""

from __future__ import annotations

import dataclasses
import queue
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import pytest

from workbench.sandbox.core import Delays

from .conftest import count
from .helpers import REPO, argv, cli_env, wb, wb_json

# Salt takes 1.5 s per node and a push moves 8 MB binaries: wide windows to kill a node in.
DELAYS = dataclasses.replace(Delays().scale(0.01), salt=1.5)
BIG = {"WORKBENCH_FAKE_BINARY_MB": "8"}
VICTIM = "kubernetes-minion-1"


def kill_node_when(box: Any, marker: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the verb (human output: verdicts on stdout, progress on stderr, read as one
    stream); once it shows ``marker``, delete the victim's server."""
    proc = subprocess.Popen(argv(box, *args, json_out=False), cwd=REPO, env=cli_env(box, env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        killed = False
        while True:
            line = lines.get(timeout=120)
            if line is None:
                break
            seen.append(line)
            if not killed and marker in line:
                box.set_fault("out-of-band-delete", True, server=VICTIM)
                killed = True
                count("node faults injected")
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
    assert killed, f"never saw {marker!r}:\n{''.join(seen)[-2000:]}"
    return proc.returncode, "".join(seen)


def rerun_up(box: Any) -> list[str]:
    """``up`` as the user is told: its preflight names the dead member's leftover port and
    points at ``--fix-leaked``; following that advice recreates the member."""
    proc = wb(box, "up")
    assert proc.returncode == 1 and "--fix-leaked" in proc.stderr, proc.stderr[-2000:]
    doc = wb_json(box, "up", "--fix-leaked", "--yes")
    return list(doc["created"])


def all_ok(doc: dict[str, Any], names: set[str]) -> None:
    assert {n["name"] for n in doc["nodes"]} == names
    assert all(n["ok"] for n in doc["nodes"]), doc["nodes"]


@pytest.mark.slow
def test_a_node_dying_during_salt_and_push_is_reported_and_repaired(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=2, delays=DELAYS)
    names = {"kubernetes-master", "kubernetes-minion-1", "kubernetes-minion-2"}
    wb_json(box, "build", env=BIG)
    wb_json(box, "up")
    all_ok(wb_json(box, "push"), names)

    code, err = kill_node_when(box, f"salt salt {VICTIM} ...", "salt")
    assert code == 1, err[-2000:]
    assert "Traceback" not in err
    verdicts = {line.split(":", 1)[0]: line for line in err.splitlines() if line.startswith("kubernetes-")}
    assert "FAILED" in verdicts[VICTIM], err[-2000:]
    assert all(" ok" in verdicts[n] or verdicts[n].endswith("ok") for n in names - {VICTIM}), verdicts
    count("node faults survived")

    assert rerun_up(box) == [VICTIM]
    all_ok(wb_json(box, "push"), names)
    all_ok(wb_json(box, "salt"), names)

    wb_json(box, "build", env=BIG)  # a new build to push, so the push has work on every node
    code, err = kill_node_when(box, VICTIM, "push", env=BIG)
    assert code == 1, err[-2000:]
    assert "Traceback" not in err
    verdicts = {line.split(":", 1)[0]: line for line in err.splitlines() if line.startswith("kubernetes-")}
    assert "FAILED" in verdicts.get(VICTIM, "FAILED"), err[-2000:]
    assert all("FAILED" not in verdicts[n] for n in names - {VICTIM}), verdicts
    count("node faults survived")

    assert rerun_up(box) == [VICTIM]
    all_ok(wb_json(box, "push"), names)
    all_ok(wb_json(box, "salt"), names)
