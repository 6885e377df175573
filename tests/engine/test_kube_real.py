"""Pods and nodes from real clusters (tests/fixtures/real/kubectl, SOURCES.md): the READY,
STATUS, RESTARTS, node STATUS and ROLES columns are what ``kubectl get`` prints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from workbench.engine.kube.client import parse_nodes, parse_pods
from workbench.engine.kube.printer import human_duration
from workbench.models.cluster import ClusterInfo

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "kubectl"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def columns(name: str, now: str) -> dict[str, tuple[str, str, str]]:
    return {p.name: (p.ready, p.status, p.restarts_text)
            for p in parse_pods((REAL / name).read_text(), now=at(now))}


def test_init_container_crash_loop_2020() -> None:
    assert columns("k8s-94216-2020-init-crashloop.json", "2020-08-25T08:25:35Z") == {
        "app-5f7c9b7d4-x2lqk": ("0/1", "Init:CrashLoopBackOff", "16 (5m ago)")}


@pytest.mark.parametrize(("name", "status", "restarts"), [
    ("certificate-init-2018-init-error.json", "Init:Error", "1 (10s ago)"),
    ("certificate-init-2018-init-crashloop.json", "Init:CrashLoopBackOff", "1 (7s ago)"),
])
def test_init_error_then_crash_loop_2018(name: str, status: str, restarts: str) -> None:
    assert columns(name, "2018-06-19T10:00:12Z") == {"tls-app-dc7787455-69rhx": ("0/1", status, restarts)}


def test_crash_loop_next_to_running_2015() -> None:
    assert columns("k8s-17460-2015-crashloop.json", "2015-11-18T10:00:00Z") == {
        "elasticsearch-attiy": ("0/1", "CrashLoopBackOff", "25 (4m56s ago)"),
        "frontend-81lqv": ("1/1", "Running", "0"),
    }


def test_sidecars_reasons_and_terminating_2024() -> None:
    assert columns("pods-v1.29-sidecars-and-reasons.json", "2024-05-02T10:00:00Z") == {
        "myapp-6d9d4c8f8b-5ttmw": ("2/2", "Running", "0"),
        "myapp-6d9d4c8f8b-pq7kz": ("0/2", "Init:ContainerCreating", "0"),
        "myapp-6d9d4c8f8b-zz9xl": ("1/2", "CrashLoopBackOff", "7 (90s ago)"),
        "db-migrate-0": ("0/1", "Init:0/2", "0"),
        "backup-28573920-8mnbq": ("0/1", "Completed", "0"),
        "stress-7f9d": ("0/1", "OOMKilled", "0"),
        "flaky-1": ("0/1", "ExitCode:3", "0"),
        "web-5b8d7c9f-2kq9d": ("1/1", "Terminating", "0"),
    }


def test_nodes_status_and_roles_2015_to_2024() -> None:
    nodes = {n.name: (n.status, n.roles, n.ready) for n in parse_nodes((REAL / "nodes-2015-2024.json").read_text())}
    assert nodes == {
        "cp-1": ("Ready", "control-plane", True),
        "master-old": ("Ready", "control-plane,master", True),
        "worker-1": ("Ready,SchedulingDisabled", "<none>", True),
        "worker-2": ("NotReady", "worker", False),
        "kubernetes-master": ("Ready,SchedulingDisabled", "master", True),
        "kubernetes-minion-1": ("Unknown", "<none>", False),
    }


def test_info_json_carries_the_kubectl_columns() -> None:
    pods = parse_pods((REAL / "k8s-94216-2020-init-crashloop.json").read_text(), now=at("2020-08-25T08:25:35Z"))
    nodes = parse_nodes((REAL / "nodes-2015-2024.json").read_text())
    doc = ClusterInfo("https://10.0.0.2:6443", (), nodes, pods, "kubectl").to_json()
    assert doc["pods"] == [{"namespace": "rtf", "name": "app-5f7c9b7d4-x2lqk", "ready": "0/1",
                            "status": "Init:CrashLoopBackOff", "restarts": 16, "restarts_text": "16 (5m ago)"}]
    worker = next(n for n in doc["nodes"] if n["name"] == "worker-1")
    assert worker == {"name": "worker-1", "ready": True, "status": "Ready,SchedulingDisabled",
                      "roles": "<none>", "version": "v1.29.4"}


@pytest.mark.parametrize(("seconds", "text"), [
    (45, "45s"), (119, "119s"), (450, "7m30s"), (600, "10m"), (3900, "65m"), (5 * 3600 + 600, "5h10m"),
    (23 * 3600, "23h"), (3 * 86400 + 4 * 3600, "3d4h"), (40 * 86400, "40d"), (2 * 365 * 86400 + 30 * 86400, "2y30d"),
    (9 * 365 * 86400, "9y"),
])
def test_ages_read_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
