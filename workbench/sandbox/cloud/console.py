"""The boot log a server's console shows when no node manager prints one, and the
faults Nova records when a boot fails."""

from __future__ import annotations

from workbench.sandbox.cloud.store import now


def kernel_log(name: str) -> tuple[str, ...]:
    return (
        "[    0.000000] Initializing cgroup subsys cpuset",
        "[    0.000000] Linux version 3.17.4-301.fc21.x86_64 (mockbuild@bkernel02) "
        "(gcc version 4.9.2 20141101 (Red Hat 4.9.2-1) (GCC) ) #1 SMP",
        "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-3.17.4-301.fc21.x86_64 "
        "root=UUID=d2ec7a4c console=tty1 console=ttyS0,115200n8",
        f"[    2.104822] systemd[1]: Set hostname to <{name}>.",
    )


def cloud_init_log(name: str, ips: str) -> tuple[str, ...]:
    return (
        f"[    9.812345] cloud-init[612]: Cloud-init v. 0.7.5 running 'init' at {now()}. Up 9.81 seconds.",
        f"[    9.901122] cloud-init[612]: ci-info: eth0: {ips}",
        f"[   10.221304] cloud-init[612]: Cloud-init v. 0.7.5 finished. Datasource DataSourceOpenStack. Host {name}.",
        f"{name} login: ",
    )


FAULTS = (
    "Build of instance {id} aborted: Failed to allocate the network(s), not rescheduling.",
    "No valid host was found. There are not enough hosts available.",
)
FAULT_DETAILS = (
    "Unexpected vif_type=binding_failed",
    "Exceeded maximum number of retries. Exhausted all hosts available for retrying build "
    "failures for instance {id}.",
)
