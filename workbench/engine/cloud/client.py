"""An async facade over openstacksdk: one connection per cloud, retries, one-line errors.

openstacksdk is synchronous, so every call runs in ``asyncio.to_thread``. ``import
openstack`` stays inside functions: it costs 0.4-0.75 s and the TUI draws first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from workbench.engine.cloud.conflicts import classify, exception_text
from workbench.errors import (
    CloudAuthError,
    CloudError,
    CloudResourceMissing,
    CloudUnreachable,
    ProfileError,
    WorkbenchError,
)
from workbench.events import Bus
from workbench.profile import Profile, clouds_found, no_profile_hint, profile_search_places
from workbench.redact import REDACTOR, redact

T = TypeVar("T")

_connections: dict[tuple[str, str, str], Any] = {}
_connections_lock = threading.Lock()


def cloud_key(profile: Profile) -> tuple[str, str, str]:
    c = profile.cloud
    return (str(c.clouds_yaml or ""), c.name or "", c.region or "")


class CloudCore:
    """The connection and call machinery under ``CloudClient``. ``call`` runs ``fn(connection)`` in a thread,
    retrying 5xx and transient 409 answers with backoff, and turns failures into one-line
    ``CloudError``s."""

    def __init__(
        self,
        profile: Profile,
        *,
        bus: Bus | None = None,
        attempts: int = 5,
        backoff: float = 0.2,
    ) -> None:
        self.profile = profile
        self.bus = bus
        self.attempts = attempts
        self.backoff = backoff
        self._lock = threading.Lock()
        self._conn: Any = None

    # -- connection -----------------------------------------------------------------
    @property
    def cloud_label(self) -> str:
        return self.profile.cloud.name or "(OS_* environment)"

    def _connect_sync(self) -> Any:
        with self._lock:
            if self._conn is not None:
                return self._conn
            key = cloud_key(self.profile)
            with _connections_lock:
                cached = _connections.get(key)
            if cached is not None:
                self._conn = cached
                return cached
            conn = self._open()
            with _connections_lock:
                _connections[key] = conn
            self._conn = conn
            return conn

    def _open(self) -> Any:
        _quiet_sdk_logging()
        import openstack.connection
        from openstack.config.loader import OpenStackConfig

        c = self.profile.cloud
        explicit = c.clouds_yaml is not None or c.name is not None
        files = [str(c.clouds_yaml)] if c.clouds_yaml is not None else None
        if c.clouds_yaml is not None and not Path(c.clouds_yaml).is_file():
            raise ProfileError(self._profile_where(), "cloud.clouds_yaml", "an existing clouds.yaml file")
        try:
            config = OpenStackConfig(config_files=files, load_envvars=not explicit)
            kwargs: dict[str, Any] = {}
            if c.region:
                kwargs["region_name"] = c.region
            region = config.get_one(cloud=c.name, **kwargs)
        except Exception as exc:  # openstack.config raises several kinds
            raise self._config_error(exc) from None
        auth = region.config.get("auth") or {}
        self._auth_url = str(auth.get("auth_url") or "")  # named when it cannot be reached
        REDACTOR.add(auth.get("password"), auth.get("token"), auth.get("application_credential_secret"))
        try:
            conn = openstack.connection.Connection(config=region)
        except Exception as exc:  # a malformed value (e.g. interface: false) in clouds.yaml
            raise self._config_error(exc) from None
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                conn.authorize()
                break
            except Exception as exc:  # a 503 burst at login is retried like any other call
                if attempt < self.attempts and _transient(exc):
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise self.translate(exc, "authenticate") from None
        REDACTOR.add(conn.auth_token)
        return conn

    def _profile_where(self) -> str:
        """The profile file, or, with none, where profiles were searched and what the env holds."""
        if self.profile.path is not None:
            return str(self.profile.path)
        searched = ", ".join(profile_search_places())
        env = [name for name in ("OS_CLOUD", "OS_AUTH_URL") if os.environ.get(name)]
        source = f"credentials from {'/'.join(env)}" if env else "no OS_CLOUD/OS_AUTH_URL"
        return f"no profile found (searched {searched}) and {source}"

    def _config_error(self, exc: Exception) -> WorkbenchError:
        where = self.profile.cloud.clouds_yaml or self._profile_where()
        text = redact(" ".join(str(exc).split()))
        hint = ""
        if self.profile.path is None and not (os.environ.get("OS_CLOUD") or os.environ.get("OS_AUTH_URL")):
            hint = f"; {no_profile_hint()}"
        if self.profile.cloud.name and "not found" in text.lower():
            found = clouds_found(self.profile.cloud.clouds_yaml)
            listed = ", ".join(f"{name} ({file})" for name, file in found) or "none in any clouds.yaml"
            return ProfileError(where, "cloud.name",
                                f"a cloud defined in clouds.yaml: {self.profile.cloud.name!r} is not; found: {listed}")
        if "auth" in text.lower() or "Missing" in type(exc).__name__:
            return ProfileError(where, "cloud", f"complete credentials ({text}){hint}")
        return ProfileError(where, "cloud", text + hint)

    async def connect(self) -> None:
        await asyncio.to_thread(self._connect_sync)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        with _connections_lock:
            for key, value in list(_connections.items()):
                if value is conn:
                    del _connections[key]
        with contextlib.suppress(Exception):
            conn.close()

    # -- calls ------------------------------------------------------------------------
    async def call(self, fn: Callable[[Any], T], what: str) -> T:
        """Run ``fn(connection)`` in a thread with retries; raise one-line CloudErrors."""
        return await asyncio.to_thread(self.call_sync, fn, what)

    def call_sync(self, fn: Callable[[Any], T], what: str) -> T:
        delay = self.backoff
        reauthed = False
        for attempt in range(1, self.attempts + 1):
            try:
                conn = self._connect_sync()
                return fn(conn)
            except WorkbenchError:
                raise
            except Exception as exc:
                if not reauthed and attempt < self.attempts and _unauthorized(exc):
                    # The token expired or was revoked mid-run (keystoneauth re-authenticates
                    # once, but concurrent calls on one session can all miss that): log in
                    # again once; bad credentials already failed at connect.
                    reauthed = True
                    with contextlib.suppress(Exception):
                        self._conn.session.auth.invalidate()
                    continue
                if attempt < self.attempts and _transient(exc):
                    if self.bus is not None:
                        self.bus.log("cloud", None, f"{what}: {_short(exc)}; retrying", "stderr")
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise self.translate(exc, what) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def translate(self, exc: BaseException, what: str) -> WorkbenchError:
        """One line a person understands, for any openstacksdk / keystoneauth failure."""
        for cause in _chain(exc):
            known = self._translate_one(cause, what)
            if known is not None:
                return known
        return CloudError(f"cloud {self.cloud_label}: {what}: {_short(exc)}")

    def _translate_one(self, exc: BaseException, what: str) -> WorkbenchError | None:
        from keystoneauth1 import exceptions as ks
        from openstack import exceptions as os_exc

        cloud = self.cloud_label
        auth_url = getattr(self, "_auth_url", "")
        if self._conn is not None:
            auth_url = str((self._conn.config.config.get("auth") or {}).get("auth_url", ""))
        status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
        if isinstance(exc, ks.Unauthorized) or status == 401:
            return CloudAuthError(f"cloud {cloud}: authentication failed (check the username, password and project in clouds.yaml)")
        if isinstance(exc, ks.SSLError):
            return CloudUnreachable(f"cloud {cloud}: TLS error talking to {auth_url or 'the cloud'}: {_short(exc)}")
        if isinstance(exc, (ks.ConnectFailure, ks.ConnectTimeout, ks.DiscoveryFailure, ks.UnknownConnectionError)):
            return CloudUnreachable(f"cloud {cloud}: cannot reach {auth_url or 'the endpoint'} ({type(exc).__name__})")
        if isinstance(exc, (ks.MissingRequiredOptions, ks.MissingAuthPlugin, ks.NoMatchingPlugin)):
            return ProfileError(self.profile.cloud.clouds_yaml or "(environment)", "cloud", f"complete credentials ({_short(exc)})")
        if isinstance(exc, os_exc.ServiceDisabledException | os_exc.EndpointNotFound):
            return CloudUnreachable(f"cloud {cloud}: {_short(exc)} (check cloud.region)")
        if isinstance(exc, os_exc.NotFoundException) or status == 404:
            return CloudResourceMissing(f"cloud {cloud}: {what}: not found")
        if isinstance(exc, os_exc.ResourceTimeout):
            return CloudError(f"cloud {cloud}: {what}: timed out")
        conflict = classify(_status(exc), exception_text(exc))
        if conflict is not None and conflict.permanent:
            return CloudError(f"cloud {cloud}: {what}: {conflict.line()} ({_short(exc)})")
        return None


def _quiet_sdk_logging() -> None:
    """keystoneauth and openstacksdk log warnings (e.g. failed discovery) that would reach
    stderr through Python's last-resort handler; our errors say it in one line instead."""
    for name in ("keystoneauth", "openstack", "stevedore"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (openstacksdk wraps keystoneauth's errors)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out and len(out) < 8:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _short(exc: BaseException) -> str:
    """The one line worth showing from an SDK exception."""
    details = getattr(exc, "details", None)
    text = str(details) if details else str(exc)
    status = getattr(exc, "status_code", None)
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:297] + "..."
    text = redact(text)
    return f"HTTP {status}: {text}" if status and str(status) not in text else text


def _status(exc: BaseException) -> int | None:
    """The HTTP status, from the response or, when the SDK kept none, its exception class."""
    from openstack import exceptions as os_exc

    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if status:
        return int(status)
    for cls, code in ((os_exc.ConflictException, 409), (os_exc.BadRequestException, 400),
                      (os_exc.ForbiddenException, 403)):
        if isinstance(exc, cls):
            return code
    return None


def _unauthorized(exc: BaseException) -> bool:
    for cause in _chain(exc):
        status = getattr(cause, "status_code", None) or getattr(cause, "http_status", None)
        if status == 401:
            return True
    return False


def _transient(exc: BaseException) -> bool:
    """A failure worth retrying: 5xx or a transient 409, here or in what caused it (the SDK
    wraps keystoneauth's errors, e.g. a 503 during login in an SDKException)."""
    return any(_transient_one(cause) for cause in _chain(exc))


def _transient_one(exc: BaseException) -> bool:
    from keystoneauth1 import exceptions as ks

    if isinstance(exc, (ks.ConnectFailure, ks.ConnectTimeout)):
        return True
    status = _status(exc)
    if status is None:
        return False
    if status in (500, 502, 503, 504):
        return True
    conflict = classify(status, exception_text(exc))
    return conflict is not None and not conflict.permanent
