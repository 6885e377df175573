"""Real Neutron/Nova conflict answers (tests/fixtures/real/openstack, SOURCES.md) through the
real openstacksdk: permanent ones fail fast in one line that says what to do; only
transient ones are retried."""

from __future__ import annotations

import json
from pathlib import Path

import openstack.exceptions
import pytest
import requests

from workbench.engine.cloud.client import CloudCore, _transient
from workbench.engine.cloud.conflicts import classify
from workbench.errors import CloudError
from workbench.profile import Profile

from .test_cloud_helpers import setup

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "openstack"


def sdk_error(name: str) -> BaseException:
    """The exception openstacksdk itself raises for the recorded answer."""
    sample = json.loads((REAL / name).read_text())
    response = requests.Response()
    response.status_code = sample["status"]
    response.headers["content-type"] = "application/json"
    response._content = json.dumps(sample["body"]).encode()
    response.url = "https://cloud.example/v2.0/ports"
    try:
        openstack.exceptions.raise_from_response(response)
    except openstack.exceptions.SDKException as exc:
        return exc
    raise AssertionError("the SDK raised nothing")


@pytest.mark.parametrize(("name", "expected"), [
    ("neutron-overquota-floatingip-2024.json",
     "create port m-1 on 10.0.0.5: project quota exhausted for floatingip; free some in the project "
     "(workbench doctor finds leaked ones) or ask for a larger quota"),
    ("neutron-ipgen-router-gateway-2021.json",
     "create port m-1 on 10.0.0.5: no free IP address left on network f55c8e3d-c798-4c6c-9f7e-eeb6600f6aed; "
     "delete leaked ports there (workbench doctor) or widen the subnet's allocation pool"),
    ("nova-multiple-networks-2021.json",
     "create port m-1 on 10.0.0.5: several networks match and none was named; set cloud.network to the "
     "network's name or id"),
    ("nova-quota-instances-2024.json", "create port m-1 on 10.0.0.5: project quota exhausted for instances; "),
    ("nova-quota-cores-ram-2024.json", "create port m-1 on 10.0.0.5: project quota exhausted for cores, ram; "),
])
def test_real_permanent_answers_fail_fast_with_what_to_do(name: str, expected: str) -> None:
    exc = sdk_error(name)
    assert not _transient(exc)
    error = CloudCore(Profile()).translate(exc, "create port m-1 on 10.0.0.5")
    assert isinstance(error, CloudError)
    assert str(error).startswith(f"cloud (OS_* environment): {expected}")
    assert "\n" not in str(error)


def test_the_type_the_sdk_drops_is_not_needed() -> None:
    """An SDK exception with no response left (only ``details``) classifies the same."""
    exc = openstack.exceptions.ConflictException(
        message="409: Client Error for url: https://cloud.example/v2.0/floatingips",
        details="Quota exceeded for resources: ['floatingip'].")
    assert exc.response is None and not _transient(exc)
    assert "project quota exhausted for floatingip" in str(CloudCore(Profile()).translate(exc, "allocate a floating IP"))


@pytest.mark.parametrize(("name", "kind", "summary"), [
    ("heat-ipgen-failure-2019.txt", "ip-exhausted",
     "no free IP address left on network be3a70aa-6e55-42f3-9a7e-613267fa78f5"),
    ("bosh-ip-in-use-2018.txt", "ip-taken", "IP address bar is already held by another port"),
    ("octavia-ip-already-allocated-2023.txt", "ip-taken",
     "IP address 10.1.3.3 is already held by another port in subnet 1e774ecf-99e0-44db-a1b8-4693fe1a3766"),
    ("gardener-overquota-gophercloud-2024.txt", "quota", "project quota exhausted for floatingip"),
    ("neutron-lib-external-exhausted.txt", "floating-ip-exhausted", "the floating IP pool darpanet has no free address"),
    ("neutron-2013-external-exhausted.txt", "floating-ip-exhausted", "the floating IP pool has no free address"),
])
def test_real_texts_classify_case_insensitively(name: str, kind: str, summary: str) -> None:
    text = (REAL / name).read_text()
    for variant in (text, text.upper().replace(summary.upper(), summary), text.lower()):
        conflict = classify(409, variant)
        assert conflict is not None and conflict.permanent and conflict.kind == kind
    conflict = classify(409, text)
    assert conflict is not None and conflict.summary == summary
    assert classify(400, text) == conflict  # neutron-lib's exhaustion is a 400 (BadRequest)


@pytest.mark.parametrize("text", [
    (REAL / "os-migrate-subnet-in-use-2023.txt").read_text(),
    "Unable to complete operation on port 5c1c7a5e-1b6f-4a4e-9d0c-6d5b8d0f3a11 for network "
    "0e8b5a0e-8c8e-4f1f-9c57-0f4a5d3c2b10. Port already has an attached device 9d2d3c57-3c2e-4b8e-8a8e-3f0b1b0b7f20.",
    "Cannot 'delete' instance 9d2d3c57-3c2e-4b8e-8a8e-3f0b1b0b7f20 while it is in task_state spawning",
])
def test_transient_conflicts_are_retried(text: str) -> None:
    conflict = classify(409, text)
    assert conflict is not None and not conflict.permanent
    unknown = classify(409, "Something else entirely")
    assert unknown is not None and unknown.permanent  # only known transient conflicts are retried


async def test_a_taken_ip_on_the_sandbox_fails_at_once_naming_the_port(make_sandbox) -> None:
    box = make_sandbox(minions=0)
    profile, _state, bus, client = setup(box, minions=0)
    seen: list[object] = []
    bus.add_listener(seen.append)
    network_id = (await client.resolve()).network_id
    ip = profile.cluster.master_ip
    first = await client.create_port("kubernetes-master", network_id, ip)
    with pytest.raises(CloudError) as caught:
        await client.create_port("kubernetes-minion-9", network_id, ip)
    text = str(caught.value)
    assert f"create port kubernetes-minion-9 on {ip}: IP address {ip} is already held by another port" in text
    assert "delete the port holding it" in text
    assert not any("retrying" in str(getattr(e, "text", "")) for e in seen)
    await client.delete_port(first)
