"""``workbench doctor`` through the real CLI: leaked ports (seed caveat 2) and boot errors."""

from __future__ import annotations

from .test_cloud_cli_helpers import TAG, ours, sdk, wb, wb_json


def test_leaked_ports_found_named_by_up_and_fixed_exactly(make_sandbox) -> None:
    box = make_sandbox(minions=2)
    profile = str(box.profile_path)
    assert wb_json("up", "--profile", profile)["ok"]
    conn = sdk(box)
    net = conn.network.find_network("mgmt")
    bystander = conn.network.create_port(network_id=net.id, name="untagged-down")  # DOWN, no device
    box.set_fault("leaked-ports", True)
    doomed = [conn.compute.find_server(n) for n in ("kubernetes-minion-1", "kubernetes-minion-2")]
    leaked = {p.id for s in doomed for p in conn.network.ports(device_id=s.id)}
    for server in doomed:
        conn.compute.delete_server(server.id)
    for server in doomed:
        conn.compute.wait_for_delete(server, wait=20)
    box.set_fault("leaked-ports", False)

    report = wb_json("doctor", "--profile", profile, "--cloud-only", expect=1)
    found = {a["subject"] for a in report["alerts"] if a["kind"] == "leaked-port"}
    assert found == leaked
    assert all(a["command"].startswith("openstack port delete ") for a in report["alerts"] if a["kind"] == "leaked-port")
    assert {a["subject"] for a in report["alerts"] if a["kind"] == "instance-missing"} == {
        "kubernetes-minion-1", "kubernetes-minion-2"
    }

    proc = wb("up", "--profile", profile)  # preflight names them, changes nothing
    assert proc.returncode == 1
    assert all(pid in proc.stderr for pid in leaked) and "leaked-port" in proc.stderr

    refused = wb("doctor", "--profile", profile, "--cloud-only", "--fix", "leaked-port")
    assert refused.returncode == 1 and "--yes" in refused.stderr and "terminal" in refused.stderr
    assert leaked <= {p.id for p in conn.network.ports()}

    fixed = wb_json("doctor", "--profile", profile, "--cloud-only", "--fix", "leaked-port", "--yes")
    assert {f["subject"] for f in fixed["fixed"]} == leaked and all(f["ok"] for f in fixed["fixed"])
    assert not [a for a in fixed["remaining"] if a["kind"] == "leaked-port"]
    ports_now = {p.id for p in conn.network.ports()}
    assert not leaked & ports_now and bystander.id in ports_now

    assert wb_json("up", "--profile", profile)["created"] == ["kubernetes-minion-1", "kubernetes-minion-2"]
    assert wb_json("down", "--yes", "--profile", profile)["remaining"] == []
    assert ours(conn) == {"servers": [], "ports": [], "floating_ips": []}
    assert TAG not in (conn.network.get_port(bystander.id).tags or [])
    conn.network.delete_port(bystander.id)


def test_boot_error_shows_the_fault_and_a_fix_recovers(make_sandbox) -> None:
    box = make_sandbox(minions=1)
    profile = str(box.profile_path)
    box.set_fault("boot-error", True, "kubernetes-minion-1")
    doc = wb_json("up", "--profile", profile, expect=1)
    assert [f["name"] for f in doc["failed"]] == ["kubernetes-minion-1"]
    conn = sdk(box)
    fault = conn.compute.find_server("kubernetes-minion-1").fault["message"]
    assert fault and fault in doc["failed"][0]["error"]

    report = wb_json("doctor", "--profile", profile, "--cloud-only", expect=1)
    errors = [a for a in report["alerts"] if a["kind"] == "instance-error"]
    assert [a["subject"] for a in errors] == ["kubernetes-minion-1"]
    assert fault in errors[0]["message"] and "recreate" in errors[0]["fixes"]
    human = wb("doctor", "--profile", profile, "--cloud-only")
    assert fault in human.stdout and "openstack server show" in human.stdout  # results: stdout

    fixed = wb_json("doctor", "--profile", profile, "--cloud-only", "--fix", "instance-error", "--yes")
    assert fixed["ok"] and [(f["subject"], f["ok"]) for f in fixed["fixed"]] == [("kubernetes-minion-1", True)]
    status = wb_json("status", "--profile", profile)
    minion = next(i for i in status["instances"] if i["name"] == "kubernetes-minion-1")
    assert minion["status"] == "ACTIVE" and minion["floating_ip"]
    from workbench.profile import load_profile

    assert minion["fixed_ip"] == load_profile(profile).minion_ip(0)
    assert status["alerts"] == []
    assert wb_json("down", "--yes", "--profile", profile)["ok"]


def test_recreating_a_minion_provisions_its_unprovisioned_master_first(make_sandbox) -> None:
    """A minion's Salt needs its master's CA and API server: the fix provisions the master
    first when it never was (here: up failed on the minion, nothing was provisioned)."""
    box = make_sandbox(minions=1)
    profile = str(box.profile_path)
    box.set_fault("boot-error", True, "kubernetes-minion-1")
    wb_json("up", "--profile", profile, expect=1)
    box.set_fault("boot-error", False, "kubernetes-minion-1")
    assert wb_json("build", "--profile", profile)["ok"]
    fixed = wb_json("doctor", "--profile", profile, "--cloud-only", "--fix", "instance-error", "--yes")
    [result] = fixed["fixed"]
    assert result["ok"], result["summary"]
    assert "kubernetes-master: build pushed and provisioned by Salt" in result["summary"]
    assert "kubernetes-minion-1" in result["summary"].split("kubernetes-master:", 1)[1]
    active = wb("ssh", "--profile", profile, "kubernetes-master", "--", "systemctl is-active kube-apiserver")
    assert active.returncode == 0 and active.stdout.strip() == "active", active.stdout + active.stderr
    assert wb_json("down", "--yes", "--profile", profile)["ok"]
