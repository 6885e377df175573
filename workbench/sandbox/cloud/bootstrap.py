"""The cloud's furniture on first start: networks, subnets, the image and the flavors."""

from __future__ import annotations

from workbench.sandbox.cloud import ports, secgroups
from workbench.sandbox.cloud.image import create_image
from workbench.sandbox.cloud.store import Store

MGMT_NETWORK = "mgmt"
PUBLIC_NETWORK = "public"
IMAGE_NAME = "fedora-21-cloud"
SALT_IMAGE_NAME = "fedora-21-cloud-salt"  # the same image with Salt installed
#: The management subnet's allocation pool starts at .100, as an admin keeps a static range
#: out of it: .1 is the gateway (the router's interface), the profile's master and minions
#: sit on .2, .3, ... (outside the pool, which Neutron allows for explicit addresses), and
#: the DHCP port takes the pool's first address, .100.
MGMT_POOL_START = 100
FLAVORS = (("1", "m1.tiny", 512, 1, 1), ("2", "m1.small", 2048, 1, 20),
           ("3", "m1.medium", 4096, 2, 40))


def furnish(store: Store) -> None:
    """Create whatever of the base resources is missing (idempotent)."""
    secgroups.ensure_default(store)
    if store.by_name(store.networks, MGMT_NETWORK) is None:
        net = ports.create_network(store, MGMT_NETWORK)
        ports.create_subnet(store, net["id"], f"{MGMT_NETWORK}-subnet", store.mgmt_cidr,
                            pool_start=MGMT_POOL_START - 1)
    mgmt = store.by_name(store.networks, MGMT_NETWORK)["id"]
    subnet = store.subnets[store.networks[mgmt]["subnets"][0]]
    start = subnet["allocation_pools"][0]["start"]
    if int(start.rsplit(".", 1)[1]) < MGMT_POOL_START:  # a state from before the static range
        subnet["allocation_pools"][0]["start"] = f"{start.rsplit('.', 1)[0]}.{MGMT_POOL_START}"
    ports.furnish_project_network(store, mgmt)
    if store.by_name(store.networks, PUBLIC_NETWORK) is None:
        net = ports.create_network(store, PUBLIC_NETWORK, external=True)
        ports.create_subnet(store, net["id"], f"{PUBLIC_NETWORK}-subnet", store.public_cidr)
    for name in (IMAGE_NAME, SALT_IMAGE_NAME):
        if store.by_name(store.images, name) is None:
            create_image(store, name)
    for flavor_id, name, ram, vcpus, disk in FLAVORS:
        store.flavors.setdefault(flavor_id, {
            "id": flavor_id, "name": name, "ram": ram, "vcpus": vcpus, "disk": disk,
            "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
            "os-flavor-access:is_public": True, "swap": 0, "rxtx_factor": 1.0,
            "description": None, "extra_specs": {},
        })
