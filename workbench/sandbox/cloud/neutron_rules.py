"""Which attributes Neutron takes on create and update, and which a member user may see.

From neutron-lib's attribute maps (``allow_post`` / ``allow_put`` of the core resources
and the extensions this cloud lists) and Neutron's default policies. Neutron checks a
body in this order: unknown attributes, then attributes not allowed for the operation,
then policy; so do we, with Neutron's messages and error types.
"""

from __future__ import annotations

from typing import Any

from workbench.sandbox.cloud import errors

_STANDARD_POST = {"description"}  # standard-attr-description
_READ_ONLY_STANDARD = {"id", "status", "created_at", "updated_at", "revision_number", "tags"}

#: resource -> (attributes allowed on POST, attributes allowed on PUT, every known attribute)
_PORT_POST = {
    "name", "network_id", "admin_state_up", "mac_address", "fixed_ips", "device_id",
    "device_owner", "tenant_id", "project_id", "security_groups", "port_security_enabled",
    "allowed_address_pairs", "extra_dhcp_opts", "binding:vnic_type", "binding:host_id",
    "binding:profile", "dns_name", "tags",  # ports alone take tags on POST (tagging.py)
} | _STANDARD_POST
_PORT_PUT = _PORT_POST - {"network_id", "tenant_id", "project_id", "tags"}
_PORT_ALL = _PORT_POST | _READ_ONLY_STANDARD | {
    "binding:vif_type", "binding:vif_details", "dns_assignment",
}
_FIP_POST = {
    "floating_ip_address", "subnet_id", "floating_network_id", "port_id", "fixed_ip_address",
    "tenant_id", "project_id", "dns_name", "dns_domain",
} | _STANDARD_POST
_FIP_PUT = {"port_id", "fixed_ip_address", "description"}
_FIP_ALL = _FIP_POST | _READ_ONLY_STANDARD | {"router_id", "port_details"}

RULES: dict[str, tuple[set[str], set[str], set[str]]] = {
    "port": (_PORT_POST, _PORT_PUT, _PORT_ALL),
    "floatingip": (_FIP_POST, _FIP_PUT, _FIP_ALL),
}

#: attributes with no default: a create without them fails to parse
REQUIRED = {"port": ("network_id",), "floatingip": ("floating_network_id",)}

#: attributes a member may not set (policy: admin or service only), per (resource, create)
ADMIN_ONLY_WRITE = {
    ("port", True): {"binding:host_id", "binding:profile"},
    ("port", False): {"binding:host_id", "binding:profile", "mac_address"},
    ("floatingip", True): {"floating_ip_address"},  # create_floatingip:floating_ip_address
}

#: attributes a member never sees (policy: get_port:binding:*, get_network:provider:*)
ADMIN_ONLY_READ = {
    "port": {"binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"},
    "network": {"provider:network_type", "provider:physical_network",
                "provider:segmentation_id"},
}


def bad_request(message: str) -> errors.ApiError:
    return errors.neutron(400, "HTTPBadRequest", message)


def body_of(doc: dict[str, Any], resource: str) -> dict[str, Any]:
    """The resource object of a request body, refused as Neutron's ``prepare_request_body`` does."""
    if not doc:
        raise bad_request("Resource body required")
    found = doc.get(resource)
    if found is None:
        raise bad_request(f"Unable to find '{resource}' in request body")
    if not isinstance(found, dict):
        raise bad_request(f"Object '{resource}' contains invalid data")
    return found


def check(resource: str, body: dict[str, Any], *, create: bool) -> None:
    """Refuse what Neutron refuses for a member: unknown, not allowed, then policy."""
    allowed_post, allowed_put, known = RULES[resource]
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    allowed = allowed_post if create else allowed_put
    for attr in REQUIRED[resource] if create else ():
        if attr not in body:
            raise bad_request(f"Failed to parse request. Required attribute '{attr}' not specified")
    for attr in sorted(body):
        if attr not in allowed:
            if create:
                raise bad_request(f"Attribute '{attr}' not allowed in POST")
            raise bad_request(f"Cannot update read-only attribute {attr}")
    action = f"{'create' if create else 'update'}_{resource}"
    for attr in sorted(set(body) & ADMIN_ONLY_WRITE.get((resource, create), set())):
        raise errors.neutron(
            403, "PolicyNotAuthorized",
            f"(rule:{action} and rule:{action}:{attr}) is disallowed by policy",
        )


def member_view(resource: str, item: dict[str, Any]) -> dict[str, Any]:
    """``item`` without the attributes policy hides from a member user."""
    hidden = ADMIN_ONLY_READ.get(resource, set())
    return {k: v for k, v in item.items() if k not in hidden and not k.startswith("_")}
