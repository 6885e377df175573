"""Real Nova faults (tests/fixtures/real/nova_faults, SOURCES.md): the explanation is shown
(older clouds hide it in ``details``), and the fixes offered fit the fault."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from workbench.engine.cloud import down, up
from workbench.engine.cloud.faults import read_fault
from workbench.engine.cloud.models import instance_from_server
from workbench.engine.doctor.core import diagnose
from workbench.engine.parts import Parts

from .test_cloud_helpers import setup

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "nova_faults"


@pytest.mark.parametrize(("name", "kind", "text"), [
    ("kilo-2016-novalidhost-traceback.json", "capacity", "No valid host was found. (NoValidHost, code 500)"),
    ("2016-novalidhost-max-attempts.json", "capacity",
     "No valid host was found. Exceeded max scheduling attempts 3 for instance "
     "f4fb0526-b646-4bd6-8791-a48e15084568 (NoValidHost, code 500)"),
    ("newton-2018-no-valid-host.json", "capacity",
     "No valid host was found. There are not enough hosts available. (code 500)"),
    ("rocky-2019-network-allocation.json", "network",
     "Build of instance 60e8f0f8-acbc-4be7-a6ac-0b482224bc77 aborted: Failed to allocate the network(s), "
     "not rescheduling. (code 500)"),
    ("2022-retries-port-binding.json", "port-binding", None),
    ("2019-port-binding.json", "port-binding",
     "Binding failed for port 68e62053-fed2-4bd8-b3a8-0755012774ad, please check neutron logs for more "
     "information. (code 500)"),
])
def test_real_faults_show_the_explanation_and_their_kind(name: str, kind: str, text: str | None) -> None:
    fault = json.loads((REAL / name).read_text())
    inst = instance_from_server({"id": "x", "name": "kubernetes-minion-1", "status": "ERROR", "fault": fault},
                                "workbench:kubernetes", "kubernetes")
    assert inst.fault_kind == kind
    assert inst.fault == (text or f"{fault['message']} (code 500)")
    assert "File \"" not in (inst.fault or "") and "\n" not in (inst.fault or "")
    parsed = read_fault(fault)
    assert parsed is not None and parsed.kind == kind


async def test_doctor_offers_what_helps_for_capacity_and_names_neutron_for_binding(make_sandbox) -> None:
    box = make_sandbox(minions=2)
    profile, state, bus, client = setup(box, minions=2)
    profile = dataclasses.replace(profile, cluster=dataclasses.replace(
        profile.cluster, fallback_flavors=("m1.small", "m1.tiny"), availability_zones=("nova-b",)))
    client.profile = profile
    ctx = Parts(profile, state=state, bus=bus, cloud=client)
    for minion in ("kubernetes-minion-1", "kubernetes-minion-2"):
        box.set_fault("boot-error", True, minion)
    try:
        assert not (await up(client, state, bus)).ok
        errors = {a.subject: a for a in await diagnose(ctx, scope="cloud") if a.kind == "instance-error"}
        assert set(errors) == {"kubernetes-minion-1", "kubernetes-minion-2"}
        by_kind = {("capacity" if "(capacity)" in a.message else "binding"): a for a in errors.values()}
        capacity, binding = by_kind["capacity"], by_kind["binding"]

        assert "No valid host was found. There are not enough hosts available. (code 500)" in capacity.message
        assert ("the cloud has no host for flavor m1.small now (capacity); recreating the same flavor in the same "
                "zone fails the same way: use another flavor or zone, or retry later") in capacity.message
        # m1.small is the flavor that failed: not offered again as a "fallback"
        assert [f.name for f in capacity.fixes] == ["recreate-flavor-m1.tiny", "recreate-zone-nova-b", "retry-later"]
        assert "helps only once the cloud has room again" in capacity.fixes[-1].description
        assert not {"hard-reboot", "rebuild"} & {f.name for f in capacity.fixes}
        # the sandbox keeps a port the user made (unbound): the alert must not say it was released
        assert "is kept, unbound: recreate reuses it" in capacity.details and "released" not in capacity.details

        # a member sees no details for a code-500 fault: "Failed to allocate the network(s)" only
        assert "Nova gave up waiting for Neutron to set up its port" in binding.message
        assert "openstack network agent list" in binding.message
        assert [f.name for f in binding.fixes] == ["recreate"]
        assert binding.fixes[0].description.endswith("(once Neutron is fixed)")

        done = await capacity.fixes[0].run()
        assert f"recreated {capacity.subject}" in done
        [now] = [i for i in await client.list_instances() if i.name == capacity.subject]
        assert (now.status, now.flavor) == ("ACTIVE", "m1.tiny")
    finally:
        await down(client, state, bus)
