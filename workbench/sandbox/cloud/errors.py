"""API errors shaped the way each OpenStack service shapes them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by a handler; the app turns it into ``status`` with ``body`` as JSON."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


#: nova/api/openstack/wsgi.py Fault._fault_names; any other status is a computeFault
_NOVA_KINDS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def nova(status: int, message: str) -> ApiError:
    """Nova: ``{"itemNotFound": {"code": 404, "message": ...}}`` and friends."""
    kind = _NOVA_KINDS.get(status, "computeFault")
    return ApiError(status, {kind: {"code": status, "message": message}})


def neutron(status: int, kind: str, message: str, detail: str = "") -> ApiError:
    """Neutron: ``{"NeutronError": {"type", "message", "detail"}}``."""
    return ApiError(status, {"NeutronError": {"type": kind, "message": message, "detail": detail}})


def keystone(status: int, title: str, message: str) -> ApiError:
    """Keystone (and keystonemiddleware in front of every service)."""
    return ApiError(status, {"error": {"code": status, "title": title, "message": message}})


def unauthorized() -> ApiError:
    return keystone(401, "Unauthorized", "The request you have made requires authentication.")


def glance(status: int, message: str) -> ApiError:
    """Glance answers errors as a small document with the title and message."""
    title = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    return ApiError(status, {"code": status, "title": title, "message": message})
