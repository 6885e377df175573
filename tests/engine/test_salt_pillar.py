"""The cluster token reaches Salt as a 0600 pillar file, never on a node's command line."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
import yaml

from workbench.engine.salt.pillar import pillar_root, top_text
from workbench.engine.salt.runner import SaltRunner, salt_command

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


def _cmdlines() -> list[str]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                out.append(Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return out


async def test_no_token_on_any_command_line_during_a_salt_run(real_cluster) -> None:
    # real Salt takes seconds a node, so the scan sees salt-call running
    c = await view(real_cluster)
    try:
        token = c.state.cluster_token()
        seen: list[str] = []
        done = threading.Event()

        def scan() -> None:
            while not done.is_set():
                seen.extend(line for line in _cmdlines() if "salt-call" in line or token in line)

        scanner = threading.Thread(target=scan)
        scanner.start()
        try:
            report = await SaltRunner(c.pool, c.state, c.bus, salt_tree=c.profile.paths.salt_tree).run(list(c.instances))
        finally:
            done.set()
            scanner.join()
        assert report.ok, report.to_json()
        assert any("state.highstate" in line for line in seen), "the scan never saw salt-call run"
        leaks = sum(token in line for line in seen)
        assert leaks == 0, f"{leaks} command line(s) carried the cluster token"  # never print it
        # the token reached the nodes through their pillar root: a 0600 file, listed in its top
        for node in c.instances:
            root = real_cluster.box.state_dir / "nodes" / node.id / "root" / "srv" / "pillar"
            assert stat.S_IMODE((root / "workbench.sls").stat().st_mode) == 0o600
            held = token in (root / "workbench.sls").read_text()
            assert held, f"{node.name}: workbench.sls lacks the cluster token"
            assert "workbench" in yaml.safe_load((root / "top.sls").read_text())["base"]["*"]
    finally:
        await c.close()
