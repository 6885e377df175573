"""Shared fixtures: the sandbox cloud (in a thread), a factory for fresh ones, an SDK client.

openstacksdk reads OS_* variables even when given explicit arguments, so they are
stripped for the whole session; every test fails if a sandbox saw a request it does not
implement.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.sandbox.core import Delays, SandboxThread

TEST_DELAYS = Delays().scale(0.01)
_RUNNING: list[SandboxThread] = []


def _strip_os_env() -> None:
    for name in list(os.environ):
        if name.startswith("OS_"):
            del os.environ[name]


_strip_os_env()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxThread]:
    """One sandbox for the session: 2 minions, delays near zero."""
    box = SandboxThread(tmp_path_factory.mktemp("sandbox"), minions=2, delays=TEST_DELAYS)
    box.start()
    _RUNNING.append(box)
    try:
        yield box
    finally:
        _RUNNING.remove(box)
        box.stop()


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One cluster the workbench brought up itself (tests/realcluster.py), shared by the
    session's tests that only read it or put back what they change."""
    from tests.realcluster import real_salt_or_skip

    real_salt_or_skip()
    yield from _brought_up(tmp_path_factory.mktemp("real-cluster"))


@pytest.fixture(scope="session")
def seed_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A cluster of kube-up's Salt tree (a seed-era KUBE_ROOT with cluster/saltbase) that
    `workbench redeploy` brought up from an empty cloud, shared by the seed tests: those
    that break it (token regeneration) put it back before they end (tests/seedcluster.py)."""
    from tests.realcluster import real_salt_or_skip
    from workbench.sandbox.kuberoot import SEED_VERSION, write_kube_root

    real_salt_or_skip()
    state_dir = tmp_path_factory.mktemp("seed-cluster")
    write_kube_root(state_dir / "kube-root", version=SEED_VERSION, size_mb=1.0, build_seconds=0.2)
    yield from _brought_up(state_dir)


def _brought_up(state_dir: Path) -> Iterator[Any]:
    """A 2-minion sandbox in ``state_dir`` and the cluster `workbench redeploy` made on it."""
    from tests.realcluster import bring_up

    box = SandboxThread(state_dir, minions=2, delays=TEST_DELAYS)
    box.start()
    _RUNNING.append(box)
    try:
        yield bring_up(box)
    finally:
        _RUNNING.remove(box)
        box.stop()


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., SandboxThread]]:
    """A factory for fresh sandboxes (e.g. with faults), all stopped at teardown."""
    made: list[SandboxThread] = []

    def make(**kw: Any) -> SandboxThread:
        kw.setdefault("delays", TEST_DELAYS)
        kw.setdefault("minions", 2)
        state_dir = kw.pop("state_dir", None) or tmp_path / f"sandbox-{len(made)}"
        box = SandboxThread(state_dir, **kw).start()
        made.append(box)
        _RUNNING.append(box)
        return box

    try:
        yield make
    finally:
        for box in made:
            if box in _RUNNING:
                _RUNNING.remove(box)
            box.stop()


def os_conn(box: SandboxThread) -> Any:
    """An openstacksdk connection to ``box``, blind to the environment and user config."""
    import openstack
    import openstack.config

    config = openstack.config.OpenStackConfig(
        config_files=[str(box.clouds_path)], load_envvars=False, load_yaml_config=True,
        vendor_files=[], secure_files=[],
    )
    region = config.get_one(cloud="sandbox")
    return openstack.connection.Connection(config=region)


@pytest.fixture(autouse=True)
def _no_unimplemented_requests() -> Iterator[None]:
    """Fail any test during which a sandbox answered a request it does not implement."""
    before = {id(b): len(b.unimplemented) for b in _RUNNING}
    yield
    seen = [
        entry for b in list(_RUNNING) for entry in b.unimplemented[before.get(id(b), 0):]
    ]
    if seen:
        pytest.fail("sandbox saw unimplemented requests: " + "; ".join(seen), pytrace=False)
