"""The programs' own parsers: pflag and Go flag command lines, durations, the small YAML reader."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "workbench/sandbox/kuberoot/programs"))
import kflags
import miniyaml

TABLE = {"secure-port": {"bool": False}, "allow-privileged": {"bool": True}, "v": {"bool": False},
         "help": {"bool": True}, "old": {"bool": False, "deprecated": "use --new"}}


def test_pflag_forms() -> None:
    values, rest = kflags.parse_pflag(
        ["--secure-port=6443", "--allow-privileged", "-v=2", "--old", "x", "--secure_port", "7443", "pos", "--",
         "--not-a-flag"], TABLE)
    assert values == {"secure-port": ["6443", "7443"], "allow-privileged": "true", "v": "2", "old": "x"}
    assert kflags.last(values, "secure-port") == "7443"
    assert rest == ["pos", "--not-a-flag"]
    assert kflags.parse_pflag(["--allow-privileged=false", "-v3"], TABLE)[0] == {"allow-privileged": "false", "v": "3"}


@pytest.mark.parametrize(("argv", "message"), [
    (["--insecure-port=8080"], "unknown flag: --insecure-port"),
    (["-x"], "unknown shorthand flag: 'x' in -x"),
    (["--secure-port"], "flag needs an argument: --secure-port"),
])
def test_pflag_errors(argv: list[str], message: str) -> None:
    with pytest.raises(kflags.FlagError) as caught:
        kflags.parse_pflag(argv, TABLE)
    assert str(caught.value) == message


def test_pflag_without_a_table_accepts_everything() -> None:
    assert kflags.parse_pflag(["--anything=1", "--else", "2"], None)[0] == {"anything": "1", "else": "2"}


def test_go_flag() -> None:
    table = {"data-dir": {"bool": False}, "force-new-cluster": {"bool": True}}
    values, rest = kflags.parse_goflag(["-data-dir", "/d", "--force-new-cluster", "extra"], table)
    assert values == {"data-dir": "/d", "force-new-cluster": "true"} and rest == ["extra"]
    with pytest.raises(kflags.FlagError, match=r"^flag provided but not defined: -nope$"):
        kflags.parse_goflag(["--nope=1"], table)


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10.0), ("500ms", 0.5), ("1m30s", 90.0), ("1h", 3600.0),
                                                ("0", 0.0), ("", 7.0)])
def test_durations(text: str, seconds: float) -> None:
    assert kflags.duration(text, 7.0) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "1x", "s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        kflags.duration(text)


def test_yaml_as_kubeconfigs_and_config_files_are_written() -> None:
    doc = miniyaml.load(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\n"
        "users:\n  - name: system:node:n1\n    user:\n      token: 'a''b'\n"
        "contexts: []\ncurrent-context: \"x y\"\nlimits: [1, 2]\nenabled: true\nratio: 0.5\n"
        "script: |\n  line one\n  line two\nempty:\n# a comment\nlast: ~\n")
    assert doc == {"apiVersion": "v1", "kind": "Config",
                   "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
                   "users": [{"name": "system:node:n1", "user": {"token": "a'b"}}],
                   "contexts": [], "current-context": "x y", "limits": [1, 2], "enabled": True, "ratio": 0.5,
                   "script": "line one\nline two\n", "empty": None, "last": None}
    assert miniyaml.load('{"kind": "KubeletConfiguration"}') == {"kind": "KubeletConfiguration"}


def test_yaml_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="line 2"):
        miniyaml.load("a: 1\nnot a mapping line\n")
