"""The sandbox as one object: the cloud API, its nodes and its Kubernetes, on loopback.

``Sandbox`` runs on the caller's event loop; ``SandboxThread`` runs one on its own loop in
a daemon thread, for synchronous callers such as openstacksdk tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import socket
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from workbench.errors import UsageError
from workbench.redact import REDACTOR
from workbench.sandbox.cloud import bootstrap, clientfiles, keys
from workbench.sandbox.cloud.app import CONTROL_HEADER, Cloud, close_cloud
from workbench.sandbox.cloud.store import Store, new_password, require_loopback
from workbench.sandbox.faults import FaultSet
from workbench.sandbox.hooks import NodeHooks, NullNodes
from workbench.state import atomic_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delays:
    """How long the sandbox takes for things (seconds); tests scale them near zero.

    Salt and the kubelet are real programs now, so they take their own time. ``salt_race``
    is how long the salt-race fault holds Salt's units at a node's boot. ``salt`` and
    ``kubelet_heartbeat`` set nothing any more (the simulated salt-call and KubeSim are
    gone); they stay only so that callers still passing them (tests/engine/test_node_doctor.py,
    test_salt_pillar.py, tests/reliability/test_node_faults.py, bench/salt_fanout.py) keep
    working until their owners drop them.
    """

    boot: float = 3.0
    delete: float = 0.5
    salt: float = 2.0  # unused (see above)
    build: float = 3.0
    kubelet_heartbeat: float = 2.0  # unused (see above)
    ssh_slow: float = 2.0
    api_slow: float = 1.0
    salt_race: float = 3.0

    def scale(self, factor: float) -> Delays:
        return Delays(**{f.name: getattr(self, f.name) * factor for f in dataclasses.fields(self)})


def _octet(subnet: int | str | None) -> int | None:
    """N from ``subnet`` (N itself, or "127.N.0.0/24"); None: choose one."""
    if subnet is None:
        return None
    text = f"127.{subnet}.0.0/24" if isinstance(subnet, int) else subnet
    require_loopback("subnet", text)
    parts = text.split("/")[0].split(".")
    if not text.endswith("/24") or parts[2:] != ["0", "0"] or not 0 < int(parts[1]) < 255:
        raise UsageError(f"subnet: {text} must look like 127.N.0.0/24 with N from 1 to 254")
    return int(parts[1])


_CLAIM_PORT = 2222


class _Claim:
    """The sockets a sandbox holds for its life, one per /24 it uses."""

    def __init__(self, socks: list[socket.socket]) -> None:
        self.socks = socks

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def _claim_octet(octet: int) -> _Claim | None:
    """Hold 127.N.0.1:2222 and 127.(N+1).0.1:2222 (the management and floating subnets'
    gateways, which no node uses) for as long as the sandbox lives: the kernel then keeps
    every other sandbox, in any process, off both subnets (an explicit odd N included)."""
    held: list[socket.socket] = []
    for n in (octet, octet + 1):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((f"127.{n}.0.1", _CLAIM_PORT))
            sock.listen(1)
        except OSError:
            sock.close()
            _Claim(held).close()
            return None
        held.append(sock)
    return _Claim(held)


def _pick_octet() -> tuple[int, _Claim]:
    candidates = list(range(10, 251, 2))
    random.shuffle(candidates)
    for octet in candidates:
        claim = _claim_octet(octet)
        if claim is not None:
            return octet, claim
    raise UsageError("subnet: every 127.N.0.0/24 from 127.10 to 127.250 is in use")


class Sandbox:
    """One sandbox cloud whose state lives in ``state_dir``."""

    def __init__(
        self, state_dir: str | os.PathLike[str], *, minions: int = 2, faults: Iterable[str] = (),
        port: int = 0, delays: Delays | None = None, subnet: int | str | None = None,
        host: str = "127.0.0.1", hooks: NodeHooks | None = None,
    ) -> None:
        """``hooks`` replaces the node manager (a seam for tests); None: plug in the real one."""
        require_loopback("host", host)
        if not 0 <= minions <= bootstrap.MGMT_POOL_START - 3:
            raise UsageError(f"minions: {minions} is outside 0..{bootstrap.MGMT_POOL_START - 3}: "
                             "minions sit on .3 up to the mgmt allocation pool's start")
        self._given_hooks = hooks
        self.wanted_octet = _octet(subnet)
        self.state_dir = Path(state_dir).resolve()
        self.minions = minions
        self.host = host
        self.port = port
        self.delays = delays or Delays()
        self.faults = FaultSet(faults)
        self.clouds_path = self.state_dir / "clouds.yaml"
        self.profile_path = self.state_dir / "profile.toml"
        self.private_key_path = self.state_dir / "workbench_key"
        self.kube_root = self.state_dir / "kube-root"
        self.api_url = ""
        self.cloud: Cloud | None = None
        self.nodes: NodeHooks = NullNodes()
        self.kube: Any = None
        self._runner: web.AppRunner | None = None
        self._claim: _Claim | None = None
        self._announced = False

    @property
    def unimplemented(self) -> list[str]:
        return list(self.cloud.unimplemented) if self.cloud else []

    # -- start / stop -----------------------------------------------------------------
    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self._refuse_if_served()
        state_path = self.state_dir / "cloud.json"
        store = Store.load(state_path)
        if store is None:
            if self.wanted_octet is None:
                octet, self._claim = _pick_octet()
            else:
                octet = self.wanted_octet
            store = Store(octet=octet, password=new_password())
        elif self.wanted_octet is not None and self.wanted_octet != store.octet:
            raise UsageError(
                f"subnet: {self.state_dir} already uses 127.{store.octet}.0.0/24; "
                "use another state dir for another subnet"
            )
        if self._claim is None:
            self._claim = _claim_octet(store.octet)
            if self._claim is None:
                raise UsageError(
                    f"subnet: 127.{store.octet}.0.0/24 is in use by another sandbox"
                )
        require_loopback("subnet", store.mgmt_cidr)
        require_loopback("floating pool", store.public_cidr)
        REDACTOR.add(store.password)
        bootstrap.furnish(store)
        public_key = clientfiles.ensure_private_key(self.private_key_path, "workbench@sandbox")
        existing = store.keypairs.get(clientfiles.KEYPAIR_NAME)
        if existing is None or existing["public_key"] != public_key:
            keys.register(store, clientfiles.KEYPAIR_NAME, public_key)
        if self._given_hooks is not None:
            self.kube, self.nodes = None, self._given_hooks
        else:
            self.kube, self.nodes = self._plug_nodes()
        secret = os.urandom(18).hex()
        REDACTOR.add(secret)
        self.cloud = Cloud(store, state_path=state_path, faults=self.faults, hooks=self.nodes,
                           delays=self.delays, control_secret=secret)
        sock = self._bind(store.api_port)
        port = sock.getsockname()[1]
        self.api_url = f"http://{self.host}:{port}"
        self.cloud.base_url = self.api_url
        store.api_port = port
        self.cloud.changed()
        self._runner = web.AppRunner(self.cloud.make_app(), access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._write_client_files(store)
        self.cloud.servers.restore()
        await self._wait_answering()
        self._announced = True
        atomic_write(self.state_dir / "sandbox.json", json.dumps({
            "pid": os.getpid(), "api_url": self.api_url, "control_secret": secret,
            "profile": str(self.profile_path), "clouds_yaml": str(self.clouds_path),
        }), mode=0o600)

    async def _refuse_if_served(self) -> None:
        """Two sandboxes on one state dir would overwrite each other's state."""
        try:
            url = json.loads((self.state_dir / "sandbox.json").read_text())["api_url"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        try:
            async with aiohttp.ClientSession() as session, session.get(
                f"{url}/v3", timeout=aiohttp.ClientTimeout(total=2)
            ) as resp:
                answered = resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            answered = False
        if answered:
            raise UsageError(f"state dir: a sandbox at {url} already serves {self.state_dir}")

    def _bind(self, remembered: int) -> socket.socket:
        """Listen on the asked port, else the one used last time (clients keep working), else any."""
        for port in (self.port,) if self.port else (remembered, 0):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, port))
            except OSError as exc:
                sock.close()
                if self.port:
                    raise UsageError(f"port: cannot listen on {self.host}:{port}: {exc.strerror}") from None
                continue
            sock.listen(128)
            sock.setblocking(False)
            return sock
        raise AssertionError("unreachable: port 0 always binds")

    def _plug_nodes(self) -> tuple[Any, NodeHooks]:
        """The node manager. Kubernetes on the nodes is the pushed build's own programs,
        started by the node's units, so the sandbox plugs in no service of its own."""
        from workbench.sandbox.nodes import NodeManager

        nodes = NodeManager(self.state_dir / "nodes", faults=self.faults, delays=self.delays,
                            ssh_port=clientfiles.SSH_PORT)
        return None, nodes

    def _write_client_files(self, store: Store) -> None:
        clientfiles.write_clouds_yaml(self.clouds_path, store, f"{self.api_url}/v3")
        if not self.kube_root.exists():
            from workbench.sandbox.kuberoot import write_kube_root

            try:
                write_kube_root(self.kube_root)
            except Exception:
                log.exception("writing the fake KUBE_ROOT at %s failed", self.kube_root)
        clientfiles.write_profile(
            self.profile_path, store, clouds_yaml=self.clouds_path,
            private_key=self.private_key_path, minions=self.minions, kube_root=self.kube_root,
            state_dir=self.state_dir / "workbench",
        )

    async def _wait_answering(self) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{self.api_url}/v3") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.02)
        raise RuntimeError(f"sandbox API at {self.api_url} does not answer")

    async def stop(self) -> None:
        if self._announced:
            self._announced = False
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / "sandbox.json").unlink()
        if self.cloud is not None:
            await close_cloud(self.cloud)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for part in (self.nodes, self.kube):
            if part is not None and hasattr(part, "close"):
                try:
                    await part.close()
                except Exception:
                    log.exception("closing %s failed", type(part).__name__)
        if self._claim is not None:
            self._claim.close()
            self._claim = None

    async def set_fault(
        self, name: str, on: bool = True, server: str | None = None, count: int | None = None
    ) -> None:
        if self.cloud is None:
            self.faults.set(name, on, server)
            return
        await self.cloud.set_fault(name, on, server, count)

    @property
    def control_header(self) -> dict[str, str]:
        return {CONTROL_HEADER: self.cloud.control_secret if self.cloud else ""}


class SandboxThread:
    """A Sandbox on its own event loop in a daemon thread; ``start()`` returns once it answers."""

    def __init__(self, state_dir: str | os.PathLike[str], **kwargs: Any) -> None:
        self.sandbox = Sandbox(state_dir, **kwargs)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __getattr__(self, name: str) -> Any:
        if name == "sandbox":
            raise AttributeError(name)
        return getattr(self.sandbox, name)

    def start(self, timeout: float = 60.0) -> SandboxThread:
        started: Future[None] = Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.sandbox.start())
            except BaseException as exc:
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(self.sandbox.stop())
                loop.close()
                started.set_exception(exc)
                return
            started.set_result(None)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.sandbox.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name="sandbox", daemon=True)
        self._thread.start()
        started.result(timeout)
        return self

    def call(self, coro: Any, timeout: float = 60.0) -> Any:
        """Run a coroutine on the sandbox's loop and wait for its result."""
        assert self.loop is not None, "sandbox not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def set_fault(
        self, name: str, on: bool = True, server: str | None = None, count: int | None = None
    ) -> None:
        self.call(self.sandbox.set_fault(name, on, server, count))

    def stop(self) -> None:
        if self._thread is None or self.loop is None:
            return
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(60)
        self._thread = None

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
