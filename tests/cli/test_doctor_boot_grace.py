"""Boot grace (issue 19, item 5): a node created moments ago that cannot be reached yet is
booting, not an unreachable-node alert; the rule lives in the engine's ``diagnose``, so
``workbench doctor`` and the TUI's watcher agree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from workbench.engine.doctor.boot_grace import BOOT_GRACE_S, booting, created_at, past_boot_grace
from workbench.models import Alert, Instance

from .test_cloud_cli_helpers import edited_profile, wb, wb_json

NOW = 1_750_000_000.0


def _instance(name: str, created: str) -> Instance:
    return Instance(id=f"id-{name}", name=name, role="minion", status="ACTIVE", fixed_ip=None,
                    floating_ip=None, flavor="m1", image="fedora", created=created, fault=None, task_state=None)


def _iso(epoch: float, *, zulu: bool = True) -> str:
    text = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if zulu else text


def test_nova_times_are_read_and_only_young_nodes_are_booting() -> None:
    assert created_at(_iso(NOW)) == NOW and created_at(_iso(NOW, zulu=False)) == NOW
    assert created_at("2026-13-45T00:00:00Z") is None and created_at("") is None and created_at(None) is None
    instances = [
        _instance("young", _iso(NOW - 10)),
        _instance("at-grace", _iso(NOW - BOOT_GRACE_S)),  # the grace is over at its end
        _instance("old", _iso(NOW - 3 * 3600)),
        _instance("unknown", "yesterday"),  # an unreadable time never hides an alert
    ]
    assert booting(instances, NOW) == {"young"}
    alerts = [Alert("node-unreachable", "error", i.name, "no route") for i in instances]
    alerts.append(Alert("salt-minion-down", "error", "young", "salt-minion is inactive"))
    kept = past_boot_grace(alerts, instances, NOW)
    assert [(a.kind, a.subject) for a in kept] == [
        ("node-unreachable", "at-grace"), ("node-unreachable", "old"), ("node-unreachable", "unknown"),
        ("salt-minion-down", "young"),  # only "unreachable" waits for the boot
    ]
    assert past_boot_grace(alerts, instances, NOW, grace=0) == alerts


def test_headless_doctor_spares_nodes_still_booting(make_sandbox, tmp_path: Path) -> None:
    box = make_sandbox(minions=1)
    assert wb_json("up", "--profile", str(box.profile_path))["ok"]
    # the same cluster through a profile whose SSH port nothing listens on: every node is
    # unreachable, and both were created seconds ago
    profile = str(edited_profile(box, tmp_path, {"port = 2222": "port = 2"}))

    fresh = wb_json("doctor", "--profile", profile)
    assert not [a for a in fresh["alerts"] if a["kind"] == "node-unreachable"], fresh["alerts"]

    due = wb_json("doctor", "--profile", profile, "--boot-grace", "0", expect=1)
    unreachable = sorted(a["subject"] for a in due["alerts"] if a["kind"] == "node-unreachable")
    assert unreachable == ["kubernetes-master", "kubernetes-minion-1"]
    human = wb("doctor", "--profile", profile, "--boot-grace", "0")
    rows = [ln for ln in human.stdout.splitlines() if "node-unreachable" in ln]
    assert len(rows) == 2 and sum("kubernetes-minion-1" in row for row in rows) == 1, human.stdout

    bad = wb("doctor", "--profile", profile, "--boot-grace", "-5")
    assert bad.returncode == 2 and bad.stderr.strip() == "workbench: --boot-grace: -5 is not a number of seconds >= 0"
    wb_json("down", "--yes", "--profile", str(box.profile_path))
