"""Nova's microversions and request schemas, as far as the sandbox serves them.

From nova/api/openstack/api_version_request.py (header parsing) and
nova/api/openstack/compute/schemas/{servers,keypairs}.py: every request object has
``additionalProperties: False``, and which properties exist depends on the microversion.
Errors carry Nova's validation wording (nova/api/validation/validators.py).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import errors

MAX_VERSION = "2.96"
MIN_VERSION = "2.1"
_KEY: web.RequestKey[tuple[int, int]] = web.RequestKey("compute_microversion", tuple)
_FORMAT = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")

Version = tuple[int, int]


def _parse(text: str) -> Version:
    major, minor = text.split(".")
    return int(major), int(minor)


def negotiate(request: web.Request) -> str:
    """The microversion a compute request asked for (2.1 when none), kept on the request."""
    wanted = ""
    header = request.headers.get("OpenStack-API-Version", "")
    for part in header.split(","):
        service, _, value = part.strip().partition(" ")
        if service.lower() == "compute":
            wanted = value.strip()
    wanted = wanted or request.headers.get("X-OpenStack-Nova-API-Version", "").strip()
    if not wanted:
        wanted = MIN_VERSION
    elif wanted == "latest":
        wanted = MAX_VERSION
    elif not _FORMAT.match(wanted):
        raise errors.nova(400, f"API Version String {wanted} is of invalid format. "
                               "Must be of format MajorNum.MinorNum.")
    if not _parse(MIN_VERSION) <= _parse(wanted) <= _parse(MAX_VERSION):
        raise errors.nova(406, f"Version {wanted} is not supported by the API. Minimum is "
                               f"{MIN_VERSION} and maximum is {MAX_VERSION}.")
    request[_KEY] = _parse(wanted)
    return wanted


def at_least(request: web.Request, version: str) -> bool:
    """Whether the request's microversion is ``version`` or later."""
    asked: Version = request.get(_KEY, _parse(MIN_VERSION))
    return asked >= _parse(version)


def require(request: web.Request, version: str) -> None:
    """Below ``version`` the API method does not exist: Nova answers 404."""
    if not at_least(request, version):
        raise errors.nova(404, "The resource could not be found.")


# -- request schemas ------------------------------------------------------------------
#: (property, first microversion, last microversion or None)
_SERVER_CREATE = (
    ("name", "2.1", None), ("imageRef", "2.1", None), ("flavorRef", "2.1", None),
    ("adminPass", "2.1", None), ("metadata", "2.1", None), ("networks", "2.1", None),
    ("OS-DCF:diskConfig", "2.1", None), ("accessIPv4", "2.1", None),
    ("accessIPv6", "2.1", None), ("personality", "2.1", "2.56"),
    ("availability_zone", "2.1", None), ("block_device_mapping", "2.1", None),
    ("block_device_mapping_v2", "2.1", None), ("config_drive", "2.1", None),
    ("key_name", "2.1", None), ("min_count", "2.1", None), ("max_count", "2.1", None),
    ("return_reservation_id", "2.1", None), ("security_groups", "2.1", None),
    ("user_data", "2.1", None), ("description", "2.19", None), ("tags", "2.52", None),
    ("trusted_image_certificates", "2.63", None), ("host", "2.74", None),
    ("hypervisor_hostname", "2.74", None), ("hostname", "2.90", None),
)
_REBUILD = (
    ("name", "2.1", None), ("imageRef", "2.1", None), ("adminPass", "2.1", None),
    ("metadata", "2.1", None), ("preserve_ephemeral", "2.1", None),
    ("OS-DCF:diskConfig", "2.1", None), ("accessIPv4", "2.1", None),
    ("accessIPv6", "2.1", None), ("personality", "2.1", "2.56"),
    ("description", "2.19", None), ("key_name", "2.54", None), ("user_data", "2.57", None),
    ("trusted_image_certificates", "2.63", None), ("hostname", "2.90", None),
)
_NETWORK_ITEM = (
    ("fixed_ip", "2.1", None), ("port", "2.1", None), ("uuid", "2.1", None),
    ("tag", "2.42", None),
)
_KEYPAIR = (("name", "2.1", None), ("public_key", "2.1", None), ("type", "2.2", None),
            ("user_id", "2.10", None))


def _allowed(request: web.Request, table: tuple[tuple[str, str, str | None], ...]) -> set[str]:
    return {
        name for name, first, last in table
        if at_least(request, first) and (last is None or not at_least(request, _bump(last)))
    }


def _bump(version: str) -> str:
    major, minor = _parse(version)
    return f"{major}.{minor + 1}"


def invalid(field: str, value: Any, message: str) -> errors.ApiError:
    """Nova's wording for a body that fails its JSON schema."""
    return errors.nova(400, f"Invalid input for field/attribute {field}. Value: {value}. {message}")


def _no_extra(field: str, value: dict[str, Any], allowed: set[str]) -> None:
    extra = [k for k in value if k not in allowed]
    if extra:
        listed = ", ".join(repr(k) for k in extra)
        verb = "was" if len(extra) == 1 else "were"
        raise invalid(field, value, f"Additional properties are not allowed ({listed} {verb} unexpected)")


def _required(value: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name not in value:
            raise errors.nova(400, f"'{name}' is a required property")


def _object(doc: dict[str, Any], key: str, top: set[str]) -> dict[str, Any]:
    """The body's ``key`` object; a top-level error names no field (its path is empty)."""
    extra = [k for k in doc if k not in top]
    if extra:
        listed = ", ".join(repr(k) for k in extra)
        verb = "was" if len(extra) == 1 else "were"
        raise errors.nova(400, f"Additional properties are not allowed ({listed} {verb} unexpected)")
    _required(doc, (key,))
    value = doc[key]
    if not isinstance(value, dict):
        raise invalid(key, value, f"{value!r} is not of type 'object'")
    return value


def server_create(request: web.Request, doc: dict[str, Any]) -> dict[str, Any]:
    """The ``server`` object of a create request, checked as Nova's schema for this version."""
    server = _object(doc, "server", {"server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"})
    _no_extra("server", server, _allowed(request, _SERVER_CREATE))
    _required(server, ("name", "flavorRef", "networks") if at_least(request, "2.37")
              else ("name", "flavorRef"))
    networks = server.get("networks")
    if isinstance(networks, list):
        items = _allowed(request, _NETWORK_ITEM)
        for item in networks:
            if not isinstance(item, dict):
                raise invalid("networks", item, f"{item!r} is not of type 'object'")
            _no_extra("networks", item, items)
    elif networks is not None and not (at_least(request, "2.37") and networks in ("auto", "none")):
        raise invalid("networks", networks, f"{networks!r} is not of type 'array'")
    tags = server.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(tag_ok(t) for t in tags)):
        raise invalid("tags", tags, "is not valid under any of the given schemas")
    return server


def rebuild(request: web.Request, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("rebuild", body, f"{body!r} is not of type 'object'")
    _no_extra("rebuild", body, _allowed(request, _REBUILD))
    _required(body, ("imageRef",))
    return body


def reboot(body: Any) -> str:
    """The reboot type, checked as Nova's ``reboot`` schema."""
    if not isinstance(body, dict):
        raise invalid("reboot", body, f"{body!r} is not of type 'object'")
    _no_extra("reboot", body, {"type"})
    _required(body, ("type",))
    kind = body["type"]
    if kind not in ("HARD", "Hard", "hard", "SOFT", "Soft", "soft"):
        raise invalid("type", kind, f"{kind!r} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")
    return str(kind).upper()


def keypair_create(request: web.Request, doc: dict[str, Any]) -> dict[str, Any]:
    keypair = _object(doc, "keypair", {"keypair"})
    _no_extra("keypair", keypair, _allowed(request, _KEYPAIR))
    _required(keypair, ("name", "public_key") if at_least(request, "2.92") else ("name",))
    return keypair


def tag_ok(tag: Any) -> bool:
    """Nova's ``parameter_types.tag``: 1-60 characters, no '/' and no ','."""
    return isinstance(tag, str) and 0 < len(tag) <= 60 and "/" not in tag and "," not in tag
