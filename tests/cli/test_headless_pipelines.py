"""The headless ``up``, ``push`` and ``down`` run as the Engine's pipelines, as the TUI's do:
each writes a pipeline history entry and logs the equivalent command of its step (issue 13).
Through the real CLI in child processes against a sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.engine.test_push_sandbox import build
from workbench.profile import load_profile
from workbench.state import StateDir

from .test_cloud_cli_helpers import edited_profile, ours, sdk, wb


def last_pipeline(profile: str | Path) -> dict[str, Any]:
    state = StateDir(load_profile(profile, environ={}).resolved_state_dir())
    record = state.history()["pipelines"][-1]
    return {"pipeline": record["pipeline"], "ok": record["ok"],
            "stages": [(s["stage"], s["ok"]) for s in record["stages"]]}


def test_headless_up_push_down_are_engine_pipelines(make_sandbox: Any) -> None:
    box = make_sandbox(minions=1)
    profile = str(box.profile_path)
    root = load_profile(profile, environ={}).kube.root
    assert root is not None
    build(root)

    up = wb("up", "--profile", profile, "--json")
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["ok"] is True  # the verb's own document, unchanged
    assert "$ openstack --os-cloud sandbox server create --image fedora-21-cloud" in up.stderr
    assert last_pipeline(profile) == {"pipeline": "up", "ok": True, "stages": [("instances", True)]}

    push = wb("push", "--profile", profile, "--json", "--direct")
    assert push.returncode == 0, push.stderr
    assert all(n["ok"] for n in json.loads(push.stdout)["nodes"])
    assert "$ rsync -a --delete" in push.stderr
    assert last_pipeline(profile) == {"pipeline": "push", "ok": True, "stages": [("push", True)]}

    down = wb("down", "--profile", profile, "--yes", "--json")
    assert down.returncode == 0, down.stderr
    assert "server delete --wait" in down.stderr
    assert last_pipeline(profile) == {"pipeline": "down", "ok": True, "stages": [("down", True)]}
    assert ours(sdk(box)) == {"servers": [], "ports": [], "floating_ips": []}


def test_a_refused_headless_up_is_one_line_and_a_failed_history_entry(make_sandbox: Any, tmp_path: Path) -> None:
    box = make_sandbox(minions=1)
    profile = edited_profile(box, tmp_path, {'image = "fedora-21-cloud"': 'image = "no-such-image"'})
    up = wb("up", "--profile", str(profile))
    assert up.returncode == 1
    assert up.stderr.count("\n") == 1 and "no-such-image" in up.stderr, up.stderr
    assert last_pipeline(profile) == {"pipeline": "up", "ok": False, "stages": [("instances", False)]}
    assert ours(sdk(box)) == {"servers": [], "ports": [], "floating_ips": []}
