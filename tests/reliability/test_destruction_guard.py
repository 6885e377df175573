"""Destruction guard: no doctor fix and no ``down`` deletes a resource that is not ours.

Hypothesis builds random cloud states in a real sandbox: ports with our tag, another
cluster's tag, a tag that merely starts like ours, or none; with and without device owners
(routers, load balancer VIPs, Nova); on our network and on the external one; floating IPs ours and
not ours. Then ``doctor --fix --yes`` and ``down`` run through the real CLI. Everything
not carrying exactly our tag survives both; a port with a device owner survives the
doctor even with our tag; our leaked ports and free floating IPs are gone after down.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import count
from .helpers import TAG, sdk, wb_json

TAGS = st.sampled_from([(), (TAG,), ("workbench:kubernetes-2",), ("workbench:kube",), ("workbench:kubernetes", "x")])
OWNERS = st.sampled_from(["", "", "network:router_interface", "neutron:LOADBALANCERV2", "compute:nova", "network:dhcp"])
PORTS = st.lists(st.tuples(st.sampled_from(["mgmt", "other"]), TAGS, OWNERS), min_size=1, max_size=6)
FIPS = st.lists(TAGS, max_size=3)
_names = itertools.count()


def build(conn: Any, nets: dict[str, Any], ports: list[tuple[str, tuple[str, ...], str]],
          fips: list[tuple[str, ...]]) -> list[tuple[str, str, tuple[str, ...], str]]:
    made: list[tuple[str, str, tuple[str, ...], str]] = []
    for net, tags, owner in ports:
        kw = {"device_owner": owner, "device_id": f"dev-{next(_names)}"} if owner else {}
        port = conn.network.create_port(network_id=nets[net].id, name=f"fuzz-{next(_names)}", **kw)
        if tags:
            conn.network.set_tags(port, list(tags))
        made.append(("port", port.id, tuple(tags), owner))
    for tags in fips:
        fip = conn.network.create_ip(floating_network_id=nets["public"].id)
        if tags:
            conn.network.set_tags(fip, list(tags))
        made.append(("fip", fip.id, tuple(tags), ""))
    return made


def exists(conn: Any, kind: str, rid: str) -> bool:
    if kind == "port":
        return conn.network.find_port(rid, ignore_missing=True) is not None
    return conn.network.find_ip(rid, ignore_missing=True) is not None


@pytest.mark.slow
def test_no_fix_and_no_down_deletes_what_is_not_ours(make_sandbox: Callable[..., Any]) -> None:
    box = make_sandbox(minions=1)
    conn = sdk(box)
    store = box.cloud.store
    public = next(v["name"] for v in store.networks.values() if v.get("router:external"))
    # the sandbox serves two networks: ours (mgmt) and the external one stands for "another"
    nets = {"mgmt": conn.network.find_network("mgmt"), "other": conn.network.find_network(public)}
    nets["public"] = nets["other"]

    @settings(max_examples=6, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ports=PORTS, fips=FIPS)
    def check(ports: list[tuple[str, tuple[str, ...], str]], fips: list[tuple[str, ...]]) -> None:
        made = build(conn, nets, ports, fips)
        try:
            wb_json(box, "doctor", "--cloud-only", "--fix", "--yes", expect=None)
            for kind, rid, tags, owner in made:
                if TAG not in tags or (kind == "port" and owner):
                    assert exists(conn, kind, rid), f"doctor deleted {kind} {rid} tags={tags} owner={owner!r}"
            wb_json(box, "down", "--yes")
            for kind, rid, tags, owner in made:
                if TAG not in tags:
                    assert exists(conn, kind, rid), f"down deleted {kind} {rid} tags={tags} owner={owner!r}"
                elif not owner:
                    assert not exists(conn, kind, rid), f"down left our {kind} {rid}"
            count("destruction-guard resources", len(made))
            count("destruction-guard states")
        finally:
            for kind, rid, _, _ in made:
                if kind == "port":
                    conn.network.delete_port(rid, ignore_missing=True)
                else:
                    conn.network.delete_ip(rid, ignore_missing=True)

    check()
