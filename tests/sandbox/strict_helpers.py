"""Raw HTTP against the sandbox cloud through openstacksdk's authenticated session, for
the strictness suites: a request real OpenStack refuses must be refused the same way."""

from __future__ import annotations

from typing import Any

PREFIX = {"network": "/network/v2.0", "compute": "/compute/v2.1", "identity": "/v3",
          "image": "/image/v2"}


def api(
    box: Any, conn: Any, service: str, method: str, path: str, body: Any = None,
    version: str | None = None, headers: dict[str, str] | None = None,
) -> Any:
    """One request as the sandbox's member user (``version``: a compute microversion)."""
    sent = dict(headers or {})
    if version is not None:
        sent["OpenStack-API-Version"] = f"compute {version}"
    kwargs: dict[str, Any] = {"headers": sent, "raise_exc": False}
    if body is not None:
        kwargs["json"] = body
    return conn.session.request(f"{box.api_url}{PREFIX[service]}{path}", method, **kwargs)


def neutron_error(resp: Any) -> tuple[int, str, str]:
    err = resp.json()["NeutronError"]
    return resp.status_code, err["type"], err["message"]


def nova_error(resp: Any) -> tuple[int, str, str]:
    doc = resp.json()
    (kind, err), = doc.items()
    assert err["code"] == resp.status_code
    return resp.status_code, kind, err["message"]
