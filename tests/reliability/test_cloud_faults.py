"""Faults from the cloud: 503 bursts, slow answers, an expired token, a busy port.

Every verb completes through the short faults (the engine's retries carry it), and each
fault is shown to have really hit (the one-shot ones are consumed). A fault that outlasts
the retry budget ends the run with one clear line, and a rerun completes the cluster with
nothing half-created left over.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from workbench.profile import load_profile

from .conftest import count
from .helpers import REPO, argv, cli_env, converged, ours, poll, wb_json

ONE_SHOT = ("token-expire", "port-busy")


def with_faults(box: Any, faults: tuple[str, ...], *args: str) -> dict[str, Any]:
    """Switch ``faults`` on, run the verb (it must succeed), check the one-shot faults hit."""
    for name in faults:
        box.set_fault(name, True)
    try:
        doc = wb_json(box, *args, timeout=240)
    finally:
        if "api-slow" in faults:
            box.set_fault("api-slow", False)
    left = set(box.cloud.faults.names())
    for name in faults:
        if name in ONE_SHOT or name == "api-5xx":
            assert name not in left, f"{name} never hit during {args}"
    count("cloud faults injected", len(faults))
    return doc


@pytest.mark.slow
def test_every_verb_completes_through_short_faults(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    plan = load_profile(box.profile_path).node_plan()
    up = with_faults(box, ("api-5xx", "token-expire"), "up")
    assert up["ok"] and sorted(up["created"]) == sorted(n for n, _, _ in plan)
    converged(box, plan)
    with_faults(box, ("api-5xx",), "status")
    status = with_faults(box, ("token-expire", "api-slow"), "status")
    assert {i["status"] for i in status["instances"]} == {"ACTIVE"}
    doctor = with_faults(box, ("api-5xx", "token-expire"), "doctor", "--cloud-only")
    assert doctor["alerts"] == []
    with_faults(box, ("api-slow",), "doctor", "--cloud-only")
    down = with_faults(box, ("port-busy", "api-5xx"), "down", "--yes")
    assert down["remaining"] == [] and ours(box) == {"servers": [], "ports": [], "floating_ips": []}
    with_faults(box, ("api-slow",), "up")
    converged(box, plan)
    with_faults(box, ("token-expire", "api-slow"), "down", "--yes")
    assert ours(box) == {"servers": [], "ports": [], "floating_ips": []}


@pytest.mark.slow
def test_a_lasting_outage_mid_up_gives_one_line_and_a_rerun_completes(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=2)
    plan = load_profile(box.profile_path).node_plan()
    proc = subprocess.Popen(argv(box, "up", "--timeout", "60"), cwd=REPO, env=cli_env(box), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        poll(lambda: ours(box)["ports"] or proc.poll() is not None, timeout=60, what="the first port")
        box.set_fault("api-5xx", True, count=1_000_000)
        count("cloud faults injected")
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    box.set_fault("api-5xx", False)
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err
    final = [line for line in err.splitlines() if line.startswith("workbench:")]
    assert len(final) == 1 and err.strip().splitlines()[-1] == final[0], err[-2000:]
    assert "unavailable" in final[0] and "HTTP 503" in final[0], final
    again = wb_json(box, "up")
    assert again["ok"]
    converged(box, plan)
    wb_json(box, "down", "--yes")
    assert ours(box) == {"servers": [], "ports": [], "floating_ips": []}
