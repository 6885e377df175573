"""Real salt-call, masterless, over a node's bundle written under a temp dir (render tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from workbench.engine.provision.bundle import GRAINS_CONF, MINION_CONF, NodeBundle

SALT_CALL = Path(sys.executable).parent / "salt-call"


def write_node(bundle: NodeBundle, root: Path, file_roots: list[str]) -> Path:
    """Every file of the bundle under ``root``; a Salt config dir whose roots point there."""
    for f in bundle.files:
        path = root / f.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.data)
        path.chmod(f.mode)
    conf = root / "etc" / "salt"
    shipped = yaml.safe_load(bundle.file(MINION_CONF).data)
    local = {
        "root_dir": str(root), "file_client": "local",
        "file_roots": {"base": file_roots},
        "pillar_roots": {"base": [str(root / p.lstrip("/")) for p in shipped["pillar_roots"]["base"]]},
        "cachedir": str(root / "var" / "cache" / "salt"), "pki_dir": str(root / "pki"),
        "log_file": str(root / "minion.log"), "id": bundle.node,
    }
    (conf / "minion").write_text(yaml.safe_dump(local))
    (conf / "minion.d" / MINION_CONF.rsplit("/", 1)[1]).unlink()  # its node paths are replaced above
    assert (root / GRAINS_CONF.lstrip("/")).exists()
    return conf


def salt_call(conf: Path, *args: str) -> tuple[int, object, str]:
    exe = str(SALT_CALL) if SALT_CALL.exists() else shutil.which("salt-call")
    assert exe, "salt-call missing: the test extra installs salt (pip install -e '.[test]')"
    done = subprocess.run([exe, "--local", "-c", str(conf), "--out=json", "--retcode-passthrough", *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "LC_ALL": "C.UTF-8"})
    try:
        out = json.loads(done.stdout)
    except ValueError:
        out = done.stdout
    return done.returncode, out, done.stderr
