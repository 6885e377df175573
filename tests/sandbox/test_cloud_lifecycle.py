"""Server life through the node hooks, the files a client needs, restarts and loopback-only."""

from __future__ import annotations

import dataclasses
import random
import stat

import openstack.exceptions
import pytest
import yaml

from tests.conftest import TEST_DELAYS, os_conn
from tests.sandbox_helpers import until
from workbench.errors import UsageError
from workbench.profile import load_profile
from workbench.sandbox.core import Sandbox, SandboxThread, _claim_octet
from workbench.sandbox.hooks import NullNodes, ServerInfo


class RecordingNodes(NullNodes):
    """Real NodeHooks that remember what the cloud told them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []

    async def boot(self, server: ServerInfo) -> None:
        self.calls.append(("boot", server.name, server.addresses))

    async def destroy(self, server_id: str) -> None:
        self.calls.append(("destroy", server_id, ()))

    async def reboot(self, server_id: str, hard: bool) -> None:
        self.calls.append(("reboot-hard" if hard else "reboot", server_id, ()))

    async def rebuild(self, server: ServerInfo) -> None:
        self.calls.append(("rebuild", server.name, server.addresses))

    async def set_addresses(self, server: ServerInfo) -> None:
        self.calls.append(("addresses", server.name, server.addresses))


def _boot(conn, name: str, ip: str | None = None):  # type: ignore[no-untyped-def]
    net = conn.network.find_network("mgmt")
    nic = {"uuid": net.id, **({"fixed_ip": ip} if ip else {})}
    server = conn.compute.create_server(
        name=name, image_id=conn.image.find_image("fedora-21-cloud").id,
        flavor_id=conn.compute.find_flavor("m1.small").id, key_name="workbench", networks=[nic],
    )
    return conn.compute.wait_for_server(server, interval=0.02, wait=20)


def test_client_files_are_complete_and_private(sandbox):
    profile = load_profile(sandbox.profile_path, environ={})
    assert profile.sandbox and profile.cloud.name == "sandbox"
    assert profile.cloud.clouds_yaml == sandbox.clouds_path
    c = profile.cluster
    assert (c.image, c.flavor, c.keypair, c.network, c.floating_ip_pool, c.minions) == (
        "fedora-21-cloud", "m1.small", "workbench", "mgmt", "public", 2,
    )
    assert c.master_ip.startswith("127.") and c.master_ip == c.node_ip_base + "2"
    assert profile.ssh.private_key == sandbox.private_key_path and profile.ssh.port == 2222
    assert profile.kube.root == sandbox.kube_root
    assert profile.paths.known_tokens == "/srv/kubernetes/known_tokens.csv"  # the real path
    assert "[paths]" not in sandbox.profile_path.read_text()  # no table: paths are not settings
    cloud = yaml.safe_load(sandbox.clouds_path.read_text())["clouds"]["sandbox"]
    assert cloud["auth"]["auth_url"] == f"{sandbox.api_url}/v3"
    assert cloud["region_name"] == "RegionOne" and cloud["identity_api_version"] == 3
    for path in (sandbox.clouds_path, sandbox.private_key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pub = (sandbox.state_dir / "workbench_key.pub").read_text().split()[1]
    assert pub in os_conn(sandbox).compute.get_keypair("workbench").public_key


def test_hooks_follow_the_server_life(make_sandbox):
    nodes = RecordingNodes()
    box = make_sandbox(hooks=nodes, delays=dataclasses.replace(TEST_DELAYS, delete=0.5))
    conn = os_conn(box)
    server = _boot(conn, "kubernetes-master")
    (port,) = conn.network.ports(device_id=server.id)
    ip = port.fixed_ips[0]["ip_address"]
    assert nodes.calls == [("boot", "kubernetes-master", (ip,))]

    fip = conn.network.create_ip(floating_network_id=conn.network.find_network("public").id,
                                 port_id=port.id)
    assert nodes.calls[-1] == ("addresses", "kubernetes-master", (ip, fip.floating_ip_address))
    conn.network.update_ip(fip, port_id=None)
    assert nodes.calls[-1] == ("addresses", "kubernetes-master", (ip,))

    conn.compute.reboot_server(server, "HARD")
    until(lambda: ("reboot-hard", server.id, ()) in nodes.calls, "hard reboot")
    conn.compute.wait_for_server(server, interval=0.02, wait=20)
    conn.compute.rebuild_server(server, image=conn.image.find_image("fedora-21-cloud").id)
    until(lambda: nodes.calls[-1][0] == "rebuild", "rebuild")
    until(lambda: conn.compute.get_server(server.id).status == "ACTIVE", "active after rebuild")
    conn.compute.delete_server(server)
    with pytest.raises(openstack.exceptions.ConflictException):  # it is being deleted
        conn.compute.reboot_server(server, "SOFT")
    until(lambda: ("destroy", server.id, ()) in nodes.calls, "destroy")
    assert "Linux version" in conn.compute.get_server_console_output(_boot(conn, "again"))["output"]


def test_state_survives_a_restart(tmp_path):
    nodes = RecordingNodes()
    with SandboxThread(tmp_path, delays=TEST_DELAYS, hooks=nodes) as box:
        conn = os_conn(box)
        prefix = box.profile_path.read_text().split('node_ip_base = "')[1].split('"')[0]
        server = _boot(conn, "kubernetes-master", ip=prefix + "2")
        (port,) = conn.network.ports(device_id=server.id)
        fip = conn.network.create_ip(
            floating_network_id=conn.network.find_network("public").id, port_id=port.id)
        conn.compute.create_keypair(name="extra", public_key=(
            tmp_path / "workbench_key.pub").read_text())
        url, password = box.api_url, yaml.safe_load(box.clouds_path.read_text())
    again = RecordingNodes()
    with SandboxThread(tmp_path, delays=TEST_DELAYS, hooks=again) as box:
        assert box.api_url == url  # the port is kept when free, so clients keep working
        assert yaml.safe_load(box.clouds_path.read_text()) == password
        conn = os_conn(box)
        shown = conn.compute.get_server(server.id)
        assert shown.status == "ACTIVE"
        assert {a["addr"] for a in shown.addresses["mgmt"]} == {prefix + "2", fip.floating_ip_address}
        assert conn.network.get_port(port.id).device_id == server.id
        assert conn.network.get_ip(fip.id).port_id == port.id
        assert conn.compute.find_keypair("extra") is not None
        until(lambda: again.calls, "re-boot after restart")
        assert again.calls[0] == ("boot", "kubernetes-master", (prefix + "2", fip.floating_ip_address))


@pytest.mark.parametrize("kw", [{"subnet": "10.0.0.0/24"}, {"subnet": "192.168.0.0/24"},
                                {"host": "0.0.0.0"}, {"subnet": 255}])
def test_addresses_outside_loopback_are_refused(tmp_path, kw):
    with pytest.raises(UsageError):
        Sandbox(tmp_path, **kw)


def _free_odd_octet() -> int:
    """An odd N with 127.N and 127.N+1 unclaimed now: random sandboxes take even ones, so a
    fixed N could be one a sandbox elsewhere holds (that refusal is tested below)."""
    for n in random.sample(range(11, 250, 2), 120):
        claim = _claim_octet(n)  # the sandbox's own probe, released at once
        if claim is not None:
            claim.close()
            return n
    raise AssertionError("no free 127.N.0.0/24 pair")


def test_explicit_subnet_is_used(make_sandbox):
    n = _free_odd_octet()
    box = make_sandbox(subnet=f"127.{n}.0.0/24")
    conn = os_conn(box)
    cidrs = {s.name: s.cidr for s in conn.network.subnets()}
    assert cidrs == {"mgmt-subnet": f"127.{n}.0.0/24", "public-subnet": f"127.{n + 1}.0.0/24"}
    assert load_profile(box.profile_path, environ={}).cluster.master_ip == f"127.{n}.0.2"
    # both subnets are held: a sandbox asking for the floating one as its own is refused
    with pytest.raises(UsageError, match="in use by another sandbox"):
        make_sandbox(subnet=f"127.{n + 1}.0.0/24")


def test_one_state_dir_serves_one_sandbox(make_sandbox, tmp_path):
    first = make_sandbox(state_dir=tmp_path / "shared")
    with pytest.raises(UsageError, match="already serves"):
        SandboxThread(tmp_path / "shared", delays=TEST_DELAYS).start()
    assert (tmp_path / "shared" / "sandbox.json").exists()  # the refused one left it alone
    assert os_conn(first).compute.find_flavor("m1.small") is not None


def test_unknown_requests_are_404_and_recorded(tmp_path):
    import json
    import urllib.error
    import urllib.request

    with SandboxThread(tmp_path, delays=TEST_DELAYS) as box:
        token = os_conn(box).session.get_token()
        req = urllib.request.Request(f"{box.api_url}/compute/v2.1/os-hypervisors",
                                     headers={"X-Auth-Token": token})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=10)
        assert caught.value.code == 404
        assert box.unimplemented == ["GET /compute/v2.1/os-hypervisors"]
        req = urllib.request.Request(f"{box.api_url}/compute/v2.1/flavors", headers={
            "X-Auth-Token": token, "OpenStack-API-Version": "compute 3.0"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=10)
        assert caught.value.code == 406
        assert "maximum is 2.96" in json.loads(caught.value.read())["computeFault"]["message"]
        req = urllib.request.Request(f"{box.api_url}/network/v2.0/networks")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=10)
        assert caught.value.code == 401
