"""The command a person could run for each pipeline step (openstack, ssh, rsync, salt-call,
kubectl), logged once before the step runs: what the workbench does, in their tools.

Secrets never appear: the cluster token is written as ``<cluster token>``. The build logs
its own command (``build/runner``), so it has none here.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from workbench.events import Bus, LogLine

#: At most this many per-node lines for one step; the rest are summed up in one line.
MAX_NODE_LINES = 3


def _cloud(profile: Any) -> str:
    name = profile.cloud.name
    return f"openstack --os-cloud {shlex.quote(name)}" if name else "openstack"


def _ssh(profile: Any, address: str) -> str:
    ssh = profile.ssh
    key = f" -i {shlex.quote(str(ssh.private_key))}" if ssh.private_key else ""
    return f"ssh -p {ssh.port}{key} {ssh.user}@{address}"


def _address(instance: Any) -> str:
    return str(instance.floating_ip or instance.fixed_ip or f"<{instance.name}>")


def _capped(lines: list[tuple[str | None, str]], what: str) -> list[tuple[str | None, str]]:
    if len(lines) <= MAX_NODE_LINES:
        return lines
    return [*lines[:MAX_NODE_LINES], (None, f"# … and the same for {len(lines) - MAX_NODE_LINES} more {what}")]


def step_commands(engine: Any, pipeline: str, stage: str) -> list[tuple[str | None, str]]:
    """(node or None, command) for one step of a pipeline; [] when it has none."""
    profile = engine.profile
    nodes: Sequence[Any] = sorted(
        (i for i in engine.instances if i.status == "ACTIVE" and i.role in ("master", "minion")),
        key=lambda i: (i.role != "master", i.name),
    )
    tag = f"workbench:{profile.cluster.name}"
    c = profile.cluster
    if stage in ("instances", "up"):
        have = {i.name for i in engine.instances}
        plan = [(name, ip) for name, _, ip in profile.node_plan() if stage == "instances" or name not in have]
        if not plan:
            return [(None, "# every node exists: nothing to create")]
        lines = [(name, f"{_cloud(profile)} server create --image {shlex.quote(c.image)} --flavor "
                        f"{shlex.quote(c.flavor)} --key-name {shlex.quote(c.keypair)} --nic "
                        f"net-id={shlex.quote(c.network)},v4-fixed-ip={ip} --tag {tag} {name}")
                 for name, ip in plan]
        fip = (f"{_cloud(profile)} floating ip create {shlex.quote(c.floating_ip_pool)}"
               "  # then: server add floating ip, for each node")
        return [*_capped(lines, "nodes"), (None, fip)]
    if stage == "down":
        return [(None, f"{_cloud(profile)} server list --tags {tag} -f value -c ID | xargs {_cloud(profile)} "
                       f"server delete --wait  # then the floating IPs and ports tagged {tag}")]
    if stage == "connect":
        return _capped([(n.name, f"{_ssh(profile, _address(n))} true") for n in nodes], "nodes")
    if stage == "push":
        release = profile.paths.release_dir
        root = profile.kube.root
        source = f"{root}/_output/release-tars/" if root else "_output/release-tars/"
        lines = [(n.name, f"rsync -a --delete -e {shlex.quote(f'ssh -p {profile.ssh.port}')} {shlex.quote(source)} "
                          f"{profile.ssh.user}@{_address(n)}:{release}/") for n in nodes]
        return _capped(lines, "nodes")
    if stage == "salt":
        from workbench.engine.salt_master.mode import cluster_mode

        # the pillar is in the nodes' 0600 files (provisioning), never on the command line
        if nodes and cluster_mode(profile, nodes) == "master":
            master = next((n for n in nodes if n.role == "master"), nodes[0])
            return [(master.name, f"{_ssh(profile, _address(master))} sudo salt '*' state.highstate --out=json")]
        lines = [(n.name, f"{_ssh(profile, _address(n))} sudo salt-call --local state.highstate --out=json")
                 for n in nodes]
        return _capped(lines, "nodes")
    if stage == "verify":
        kubeconfig = engine.state.root / "kubeconfig"
        return [(None, f"kubectl --kubeconfig {shlex.quote(str(kubeconfig))} get nodes"),
                (None, f"kubectl --kubeconfig {shlex.quote(str(kubeconfig))} cluster-info")]
    return []


def show_commands(engine: Any, bus: Bus, pipeline: str, stage: str) -> None:
    """Log the step's commands (source ``cmd``) before it runs; never fails the step."""
    try:
        lines = step_commands(engine, pipeline, stage)
    except Exception as exc:  # a missing profile value must not stop the pipeline
        lines = [(None, f"# (no equivalent command: {exc})")]
    for node, command in lines:
        bus.publish(LogLine("cmd", node, command if command.startswith("#") else f"$ {command}", "info"))
