"""The cluster token reaches Salt as a 0600 pillar file, never on a node's command line."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
import yaml

from workbench.engine.salt.pillar import pillar_root, top_text
from workbench.engine.salt.runner import salt_command
from workbench.engine.salt_master.runner import salt_runner

from .test_salt_helpers import view

# Kubernetes' cluster/saltbase/pillar/top.sls (v1.1), as the seed's clusters carry it
SALTBASE_TOP = """base:
  '*':
    - mine
    - cluster-params
    - logging
    - docker-images
    - privilege
"""


def test_top_file_keeps_existing_entries_and_adds_ours_once() -> None:
    new = top_text(SALTBASE_TOP, "/srv/pillar/top.sls")
    assert new is not None
    assert yaml.safe_load(new)["base"]["*"] == ["mine", "cluster-params", "logging", "docker-images",
                                                "privilege", "workbench"]
    assert top_text(new, "/srv/pillar/top.sls") is None
    assert yaml.safe_load(top_text(None, "t") or "") == {"base": {"*": ["workbench"]}}


def test_templated_top_file_is_refused_with_what_to_add() -> None:
    jinja = "base:\n  '*':\n{% if grains['roles'] %}\n    - roles\n{% endif %}\n"
    with pytest.raises(ValueError, match=r"^/srv/pillar/top.sls is not a plain YAML top file; add '- workbench'"):
        top_text(jinja, "/srv/pillar/top.sls")


def test_pillar_root_sits_beside_the_salt_tree() -> None:
    assert pillar_root("/srv/salt") == "/srv/pillar"
    assert pillar_root("srv/salt/") == "srv/pillar"
    assert "--pillar-root" not in salt_command(None, "/srv/pillar")
    assert "--pillar-root=srv/pillar" in salt_command("kubelet", "srv/pillar")


def _key_lines(pem: str) -> list[str]:
    """The body lines of the private keys in a PEM file."""
    out, inside = [], False
    for line in pem.splitlines():
        if "PRIVATE KEY-----" in line:
            inside = line.startswith("-----BEGIN")
        elif inside and line:
            out.append(line)
    return out


def _cmdlines() -> list[str]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                out.append(Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return out


async def test_no_secret_on_any_command_line_during_a_salt_run(real_cluster) -> None:
    """The workbench's own tree: the nodes' keys reach Salt as 0600 pillar (provisioning), the
    cluster token not at all (certificates, no token), and neither is ever on a command line.
    Real Salt takes seconds a node, so the scan sees salt-call running."""
    c = await view(real_cluster)
    try:
        token = c.state.cluster_token()
        keys = [line for pem in (c.state.root / "pki").iterdir() for line in _key_lines(pem.read_text())]
        assert keys
        seen: list[str] = []
        done = threading.Event()

        def scan() -> None:
            while not done.is_set():
                seen.extend(line for line in _cmdlines() if "salt-call" in line or token in line
                            or any(k in line for k in keys[:3]))

        scanner = threading.Thread(target=scan)
        scanner.start()
        try:
            runner = salt_runner(c.profile, c.pool, c.state, c.bus, c.instances)
            report = await runner.run(list(c.instances))
        finally:
            done.set()
            scanner.join()
        assert report.ok, report.to_json()
        assert any("state.highstate" in line for line in seen), "the scan never saw salt-call run"
        leaks = sum(token in line or any(k in line for k in keys) for line in seen)
        assert leaks == 0, f"{leaks} command line(s) carried a secret"  # never print it
        for node in c.instances:
            root = real_cluster.box.state_dir / "nodes" / node.id / "root" / "srv" / "pillar"
            assert stat.S_IMODE((root / "secrets.sls").stat().st_mode) == 0o600
            assert not (root / "workbench.sls").exists(), node.name  # no token where none is used
            assert yaml.safe_load((root / "top.sls").read_text()) == {"base": {"*": ["cluster", "secrets"]}}
    finally:
        await c.close()
