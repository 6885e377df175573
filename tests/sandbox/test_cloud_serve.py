"""`workbench sandbox serve` and `workbench sandbox fault` as real subprocesses."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import openstack.exceptions
import pytest

from tests.conftest import os_conn

WORKBENCH = [sys.executable, "-m", "workbench"]


class Served:
    """The attributes os_conn needs, read from the served state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.clouds_path = state_dir / "clouds.yaml"


def _session_members(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # session id, not a zombie
            found.append(int(entry.name))
    return found


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise AssertionError("no ready line in time")
    return proc.stdout.readline()


def _fault(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WORKBENCH, "sandbox", "fault", *args, "--state-dir", str(state_dir)],
                          capture_output=True, text=True, timeout=60)


def test_serve_prints_ready_serves_switches_faults_and_stops_clean(tmp_path):
    state_dir = tmp_path / "box"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    proc = subprocess.Popen(
        [*WORKBENCH, "sandbox", "serve", "--state-dir", str(state_dir), "--minions", "3",
         "--faults", "leaked-ports", "--delay-scale", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )
    try:
        line = _readline(proc, 60)
        assert line == f"sandbox ready: {state_dir / 'profile.toml'}\n"
        assert "minions = 3" in (state_dir / "profile.toml").read_text()
        conn = os_conn(Served(state_dir))
        assert conn.compute.find_flavor("m1.small") is not None

        on = _fault(state_dir, "boot-error")
        assert on.returncode == 0, on.stderr
        assert on.stdout.splitlines() == ["fault boot-error: on", "faults on: boot-error, leaked-ports"]
        image = conn.image.find_image("fedora-21-cloud")
        server = conn.compute.create_server(
            name="served", image_id=image.id, flavor_id=conn.compute.find_flavor("m1.small").id,
            networks=[{"uuid": conn.network.find_network("mgmt").id}],
        )
        with pytest.raises(openstack.exceptions.ResourceFailure):
            conn.compute.wait_for_server(server, interval=0.02, wait=20)

        off = _fault(state_dir, "leaked-ports", "--off")
        assert (off.returncode, off.stdout.splitlines()) == (0, ["fault leaked-ports: off", "faults on: none"])
        gone = _fault(state_dir, "out-of-band-delete", "--server", "served")
        assert (gone.returncode, gone.stdout) == (0, "deleted served (out of band)\n"), gone.stderr
        assert conn.compute.find_server("served") is None  # it did what it says
        for bad_args in (("--off", "--server", "served"), ()):
            refused = _fault(state_dir, "out-of-band-delete", *bad_args)
            assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        bad = _fault(state_dir, "out-of-band-delete", "--server", "nobody")
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nobody" in bad.stderr
        info = json.loads((state_dir / "sandbox.json").read_text())
        assert info["api_url"].startswith("http://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
    out, err = proc.communicate()
    assert rc == 0, err
    assert out == ""  # the ready line was the only one
    deadline = time.monotonic() + 5
    while _session_members(proc.pid):
        assert time.monotonic() < deadline, f"left behind: {_session_members(proc.pid)}"
        time.sleep(0.02)
    assert not (state_dir / "sandbox.json").exists()
    assert "Traceback" not in err


def test_fault_without_a_running_sandbox_is_one_line_and_status_2(tmp_path):
    result = _fault(tmp_path, "boot-error")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no sandbox is running" in result.stderr


def test_serve_refuses_a_subnet_outside_loopback(tmp_path):
    result = subprocess.run(
        [*WORKBENCH, "sandbox", "serve", "--state-dir", str(tmp_path), "--subnet", "10.1.0.0/24"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "outside 127.0.0.0/8" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_control_endpoint_refuses_a_non_ascii_secret_with_403(sandbox):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{sandbox.api_url}/sandbox/status",
        headers={"X-Sandbox-Control": "sécret"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 403
