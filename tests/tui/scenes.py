"""Deterministic events for TUI tests and snapshots (fixed names, times and numbers)."""

from __future__ import annotations

from workbench.engine.cloud.models import Instance
from workbench.engine.kube.client import ClusterInfo, NodeInfo, PodInfo, Service
from workbench.events import (
    AlertsChanged,
    BuildProgress,
    ClusterInfoChanged,
    Event,
    InstancesChanged,
    LogLine,
    PipelineStarted,
    StageFinished,
    StageStarted,
)
from workbench.models.alerts import Alert, Fix

NOW = 1_750_000_000.0  # the clock the app is given in tests
MASTER, MINION_1, MINION_2 = "kubernetes-master", "kubernetes-minion-1", "kubernetes-minion-2"


def instance(name: str, role: str, status: str, ip: str, fip: str | None, age_s: float) -> Instance:
    from datetime import UTC, datetime

    created = datetime.fromtimestamp(NOW - age_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Instance(
        id=f"id-{name}", name=name, role=role, status=status, fixed_ip=ip,  # type: ignore[arg-type]
        floating_ip=fip, flavor="m1.medium", image="fedora", created=created,
        fault="No valid host was found" if status == "ERROR" else None, task_state=None,
    )


INSTANCES = InstancesChanged((
    instance(MASTER, "master", "ACTIVE", "127.9.0.2", "127.10.0.5", 3 * 3600),
    instance(MINION_1, "minion", "ACTIVE", "127.9.0.3", "127.10.0.6", 3 * 3600 - 40),
    instance(MINION_2, "minion", "ERROR", "127.9.0.4", None, 125),
))

CLUSTER = ClusterInfoChanged(ClusterInfo(
    server="http://127.9.0.2:8080",
    services=(Service("Kubernetes master", "http://127.9.0.2:8080"),
              Service("KubeDNS", "http://127.9.0.2:8080/api/v1/proxy/namespaces/kube-system/services/kube-dns")),
    nodes=(NodeInfo(MINION_1, True, "v1.1.0", "Ready", "<none>"),
           NodeInfo(MINION_2, False, "v1.1.0", "NotReady,SchedulingDisabled", "<none>")),
    pods=(PodInfo("kube-system", "kube-dns-v8-x1", "4/4", "Running", 0, "0"),
          PodInfo("default", "nginx-1", "0/1", "CrashLoopBackOff", 7, "7 (2m10s ago)")),
    source="http",
))


async def _noop() -> str:
    return "done"


PORT_ALERT = Alert(
    kind="leaked-port", severity="warning", subject="port-7f3a",
    message="Port port-7f3a (127.9.0.4) is DOWN with no device: left behind by a deleted server",
    command="openstack port delete port-7f3a",
    details="fixed_ips: 127.9.0.4\nstatus: DOWN\ndevice_owner: (none)",
    fixes=(Fix("delete", "Delete the port so the IP can be reused by a new minion.", _noop),),
)
TOKEN_ALERT = Alert(
    kind="token-mismatch", severity="error", subject=MINION_1,
    message="The kubelet token on kubernetes-minion-1 does not match known_tokens.csv on the master",
    command="ssh kubernetes-minion-1 sudo cat /var/lib/kubelet/kubeconfig",
    fixes=(Fix("rewrite-token", "Write the cluster token into the kubeconfig and restart kubelet.", _noop,
               destructive=False),),
)
ALERTS = AlertsChanged((PORT_ALERT, TOKEN_ALERT))

BUILD = (
    BuildProgress("package", 62.5, 95.0, (("prepare", 4.2), ("compile", 131.0), ("package", None))),
)


def log_lines(count: int = 12) -> list[LogLine]:
    sources = [("salt", MASTER), ("push", MINION_1), ("kubelet", MINION_2), ("build", None)]
    out = []
    for i in range(count):
        source, node = sources[i % len(sources)]
        stream = "stderr" if i % 5 == 4 else "stdout"
        out.append(LogLine(source, node, f"line {i}: {source} says state {i * 7 % 13} ok", stream, NOW + i))  # type: ignore[arg-type]
    return out


STAGES: tuple[Event, ...] = (
    PipelineStarted("redeploy", ("build", "push", "salt", "verify")),
    StageStarted("redeploy", "salt"),
    StageStarted("redeploy", "salt", MASTER),
    StageFinished("redeploy", "salt", MASTER, ok=True, seconds=3.0),
    StageStarted("redeploy", "salt", MINION_1),
)


def every_event() -> list[Event]:
    return [INSTANCES, CLUSTER, ALERTS, *STAGES, *BUILD, *log_lines()]
