import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import ProfileError
from workbench.profile import load_profile


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def test_minion_ips_follow_vagrant_numbering(tmp_path):
    path = write(tmp_path, '[cluster]\nminions = 3\nmaster_ip = "10.0.0.2"\nnode_ip_base = "10.0.0."\n')
    profile = load_profile(path, environ={})
    assert profile.node_plan() == [
        ("kubernetes-master", "master", "10.0.0.2"),
        ("kubernetes-minion-1", "minion", "10.0.0.3"),
        ("kubernetes-minion-2", "minion", "10.0.0.4"),
        ("kubernetes-minion-3", "minion", "10.0.0.5"),
    ]


def test_seed_environment_overlays_the_file(tmp_path):
    path = write(tmp_path, '[cluster]\nminions = 1\nflavor = "m1.small"\n')
    env = {"NUM_MINIONS": "4", "OS_FLAVOR": "vanilla_ice", "KUBE_ROOT": str(tmp_path)}
    profile = load_profile(path, environ=env)
    assert profile.cluster.minions == 4
    assert profile.cluster.flavor == "vanilla_ice"
    assert profile.kube.root == tmp_path


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[cluster]\nminions = \"two\"\n", "cluster.minions"),
        ("[cluster]\nmaster_ip = \"not-an-ip\"\n", "cluster.master_ip"),
        ("[ssh]\nport = 70000\n", "ssh.port"),
        ("[cluster]\nflavour = \"x\"\n", "cluster.flavour"),
        ("[kube]\nplatforms = \"linux/amd64\"\n", "kube.platforms"),
        ("[cluster\n", "(syntax)"),
    ],
)
def test_bad_values_name_file_and_field(tmp_path, text, field):
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profile(path, environ={})
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_bad_environment_value_names_the_variable(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ProfileError, match="NUM_MINIONS"):
        load_profile(path, environ={"NUM_MINIONS": "many"})


def test_cli_reports_bad_profile_in_one_line_with_status_2(tmp_path):
    path = write(tmp_path, "[cluster]\nminions = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "status", "--profile", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cluster.minions" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_paths_table_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[paths]\nknown_tokens = "srv/kubernetes/known_tokens.csv"\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(path, environ={})
    assert str(caught.value).startswith(f"{path}: paths:") and "real" in str(caught.value)
