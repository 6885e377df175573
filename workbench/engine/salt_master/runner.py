"""The engine's Salt runner for a cluster: masterless, or master mode (set up where
something is missing, then one job), as the profile and the cluster's size say."""

from __future__ import annotations

from collections.abc import Sequence

from workbench.engine.salt.runner import SaltReport, SaltRunner
from workbench.engine.salt_master.config import MasterSettings
from workbench.engine.salt_master.jobs import MasterSaltRunner
from workbench.engine.salt_master.mode import Mode, cluster_mode
from workbench.engine.salt_master.setup import ensure
from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.events import Bus
from workbench.profile import Profile
from workbench.state import StateDir

PILLAR_ROOT = "/srv/pillar"
RACE_PINGS = 4  # a minion not connected is waited for this many ping timeouts (the boot race)


class ProvisioningMasterRunner(MasterSaltRunner):
    """A master job, after making sure every target's minion is configured and its own key
    accepted (a cheap look over the master's connection when nothing is missing)."""

    def __init__(self, pool: SSHPool, state: StateDir, bus: Bus | None, *, master: NodeLike,
                 settings: MasterSettings, pipeline: str, ping_timeout: float, job_timeout: float,
                 race_wait: float, salt_tree: str) -> None:
        super().__init__(pool, state, bus, master=master, pipeline=pipeline, ping_timeout=ping_timeout,
                         race_wait=race_wait, job_timeout=job_timeout, salt_tree=salt_tree)
        self.settings = settings

    async def run(
        self, nodes: Sequence[NodeLike], *, state_name: str | None = None, timeout: float | None = None,
    ) -> SaltReport:
        setup = await ensure(self.pool, self.master, nodes, self.settings, self.state, place=self.place, bus=self.bus)
        for error in setup.errors:
            self._log(self.master.name, f"master mode set-up: {error}")
        report = await super().run(nodes, state_name=state_name, timeout=timeout)
        return SaltReport(report.runs, report.wall_s, report.alerts + setup.alerts)


def salt_runner(
    profile: Profile, pool: SSHPool, state: StateDir, bus: Bus | None, nodes: Sequence[NodeLike],
    *, pipeline: str = "salt", mode: Mode | None = None,
) -> SaltRunner:
    """``SaltRunner`` (masterless) or a master-mode runner, by ``mode`` (default:
    ``cluster_mode``, the decision provisioning shares)."""
    master = next((n for n in nodes if n.role == "master"), None)
    if master is None or (mode or cluster_mode(profile, nodes)) == "masterless":
        return SaltRunner(pool, state, bus, pipeline=pipeline, salt_tree=profile.paths.salt_tree)
    assert master.fixed_ip
    settings = MasterSettings(
        master_ip=master.fixed_ip, file_roots=(profile.paths.salt_tree,), pillar_roots=(PILLAR_ROOT,),
        publish_port=profile.salt.publish_port, ret_port=profile.salt.ret_port,
    )
    return ProvisioningMasterRunner(pool, state, bus, master=master, settings=settings, pipeline=pipeline,
                                    ping_timeout=profile.salt.ping_timeout, job_timeout=profile.salt.job_timeout,
                                    race_wait=RACE_PINGS * profile.salt.ping_timeout, salt_tree=profile.paths.salt_tree)
