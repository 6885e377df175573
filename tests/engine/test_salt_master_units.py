"""Master mode's parsers and choices: event-bus lines, the salt CLI's JSON stream, key
listings and fingerprints, rendered configs, the profile's ``[salt]`` table and the mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from workbench.engine.salt.output import parse_output
from workbench.engine.salt_master.config import MasterSettings, master_config, minion_config
from workbench.engine.salt_master.job_events import (
    json_documents,
    parse_event_line,
    progress,
    return_document,
)
from workbench.engine.salt_master.keys import fingerprint, parse_key_listing
from workbench.engine.salt_master.mode import salt_mode
from workbench.engine.salt_master.place import SaltPlace
from workbench.errors import ProfileError
from workbench.profile import profile_from_mapping

# as Salt 3008 prints them (salt-run state.event pretty=False), shortened
NEW = ('salt/job/20261204185711022893/new\t{"jid": "20261204185711022893", "tgt_type": "list", '
       '"tgt": ["m1", "m2"], "fun": "state.highstate", "arg": [], "minions": ["m1", "m2"], "missing": []}')
PROG = ('salt/job/20261204185711022893/prog/m1/0\t{"id": "m1", "data": {"ret": {"changes": {"diff": "New file"}, '
        '"comment": "File /tmp/x updated", "name": "/tmp/x", "result": true, "__sls__": "probe", '
        '"__run_num__": 0, "duration": 10.194, "__id__": "probe-file"}, "len": 2}, "cmd": "_minion_event"}')
RET = ('salt/job/20261204185711022893/ret/m1\t{"cmd": "_return", "id": "m1", "success": true, "retcode": 2, '
       '"return": {"file_|-probe-file_|-/tmp/x_|-managed": {"changes": {}, "comment": "ok", "name": "/tmp/x", '
       '"result": true, "__run_num__": 0, "duration": 1.5, "__id__": "probe-file"}, '
       '"cmd_|-broken_|-exit 7_|-run": {"changes": {}, "comment": "Command failed", "name": "exit 7", '
       '"result": false, "__run_num__": 1, "duration": 3, "__id__": "broken"}}, "fun": "state.highstate"}')


def test_event_lines_become_job_events_and_the_masterless_records() -> None:
    new = parse_event_line(NEW)
    assert new is not None and (new.jid, new.kind, new.minion) == ("20261204185711022893", "new", None)
    assert new.data["minions"] == ["m1", "m2"]
    prog = parse_event_line(PROG)
    assert prog is not None and (prog.kind, prog.minion) == ("prog", "m1")
    step = progress(prog)
    assert step is not None and step[:2] == (1, 2) and step[2].id == "probe-file" and step[2].changed
    ret = parse_event_line(RET)
    assert ret is not None
    doc, retcode = return_document(ret)
    states = parse_output(doc)
    assert retcode == 2 and [(s.id, s.function, s.result) for s in states] == [
        ("probe-file", "file.managed", True), ("broken", "cmd.run", False)]
    for junk in ("", "salt/auth\t{}", "salt/job/1/ret/m1\tnot json", "salt/job/1/ret/m1\t[1]",
                 "no tab here", "minion_start\t{\"a\": 1}"):
        assert parse_event_line(junk) is None


def test_the_salt_cli_s_stream_of_json_documents() -> None:
    text = '{\n    "m2": true\n}\n{\n    "m1": "Minion did not return. [No response]"\n}\nERROR: x {'
    assert json_documents(text) == [{"m2": True}, {"m1": "Minion did not return. [No response]"}]
    assert json_documents("nothing") == []


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_key_listing_and_fingerprints_ignore_how_the_pem_is_laid_out() -> None:
    one, two = _pem(), _pem()
    assert fingerprint(one) == fingerprint(one.strip()) == fingerprint(one.replace("\n", "\r\n"))
    assert fingerprint(one) != fingerprint(two) and len(fingerprint(one).split(":")) == 32
    listing = (f"=== workbench-key minions/a\n{one.strip()}\n=== workbench-key minions_pre/a\n{two}"
               "=== workbench-key minions_denied/b\nnot a key\n=== workbench-key elsewhere/c\nx\n")
    keys = parse_key_listing(listing)
    assert [(k.minion, k.state, k.fingerprint) for k in keys] == [
        ("a", "accepted", fingerprint(one)), ("a", "pending", fingerprint(two)), ("b", "denied", "")]
    with pytest.raises(ValueError):
        fingerprint("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_rendered_configs_listen_only_on_the_master_and_never_auto_accept(tmp_path: Path) -> None:
    settings = MasterSettings("10.0.0.2", file_roots=("/srv/salt",), pillar_roots=("/srv/pillar",))
    master = yaml.safe_load(master_config(settings, SaltPlace()))
    assert (master["interface"], master["auto_accept"], master["open_mode"]) == ("10.0.0.2", False, False)
    assert master["file_roots"] == {"base": ["/srv/salt"]} and master["pillar_roots"] == {"base": ["/srv/pillar"]}
    assert "pki_dir" not in master  # a real node keeps Salt's own paths
    minion = yaml.safe_load(minion_config(settings, SaltPlace(root_dir=str(tmp_path)), "kubernetes-minion-1"))
    assert (minion["master"], minion["id"], minion["file_client"]) == ("10.0.0.2", "kubernetes-minion-1", "remote")
    assert minion["state_events"] is True and minion["pki_dir"] == f"{tmp_path}/pki/minion"
    assert master_config(settings, SaltPlace()) == master_config(settings, SaltPlace())  # idempotent


def test_place_commands_quote_paths_and_pick_the_service_manager() -> None:
    real = SaltPlace()
    assert real.salt("salt-key", "-f", "a b") == "sudo salt-key -c /etc/salt -f 'a b'"
    assert real.restart("salt-minion") == "sudo systemctl restart salt-minion"
    assert real.start("salt-minion") == "sudo systemctl enable --now salt-minion"  # back after a reboot
    assert real.enable("salt-master") == "sudo systemctl enable salt-master"
    local = SaltPlace(config_dir="/x y/etc", bin_dir="/v/bin", sudo="", service="daemon", root_dir="/x y/r")
    assert local.salt("salt-run", "manage.status").startswith("/v/bin/salt-run -c '/x y/etc'")
    assert "pgrep -f" in local.is_active("salt-master") and "[s]alt-master" in local.is_active("salt-master")


def test_profile_salt_table_and_mode_by_size() -> None:
    auto = profile_from_mapping({}, None)
    assert auto.salt.mode == "auto"
    threshold = auto.salt.master_from_nodes
    assert salt_mode(auto, threshold - 1) == "masterless" and salt_mode(auto, threshold) == "master"
    forced = profile_from_mapping({"salt": {"mode": "master"}}, Path("p.toml"))
    assert salt_mode(forced, 2) == "master"
    assert salt_mode(profile_from_mapping({"salt": {"mode": "masterless"}}, None), 500) == "masterless"
    for bad, field in (({"mode": "both"}, "salt.mode"), ({"master_from_nodes": 0}, "salt.master_from_nodes"),
                       ({"ret_port": 70000}, "salt.ret_port"), ({"job_timeout": 0}, "salt.job_timeout"),
                       ({"nope": 1}, "salt.nope")):
        with pytest.raises(ProfileError) as err:
            profile_from_mapping({"salt": bad}, Path("p.toml"))
        assert field in str(err.value) and "p.toml" in str(err.value)
    assert json.dumps(auto.salt.mode)


def test_the_engine_picks_the_runner_by_mode(tmp_path: Path) -> None:
    from workbench.engine.salt.runner import SaltRunner
    from workbench.engine.salt_master.jobs import MasterSaltRunner
    from workbench.engine.salt_master.runner import salt_runner
    from workbench.engine.ssh.pool import SSHPool
    from workbench.state import StateDir

    from .test_ssh_servers import Node

    nodes = [Node("k-master", "i1", "master", "10.0.0.2", None), Node("k-minion-1", "i2", "minion", "10.0.0.3", None)]
    state = StateDir(tmp_path).ensure()
    for table, cls in (({}, SaltRunner), ({"mode": "master"}, MasterSaltRunner),
                       ({"master_from_nodes": 2}, MasterSaltRunner), ({"mode": "masterless"}, SaltRunner)):
        profile = profile_from_mapping({"salt": table}, None)
        runner = salt_runner(profile, SSHPool(profile, state), state, None, nodes)
        assert type(runner) is cls or (cls is MasterSaltRunner and isinstance(runner, cls)), table
    master = salt_runner(profile_from_mapping({"salt": {"mode": "master", "ret_port": 14506}}, None),
                         SSHPool(profile_from_mapping({}, None), state), state, None, nodes)
    assert isinstance(master, MasterSaltRunner)
    assert master.master.name == "k-master" and master.settings.ret_port == 14506  # type: ignore[attr-defined]
    assert master.settings.master_ip == "10.0.0.2"  # type: ignore[attr-defined]


def test_master_mode_bundles_put_each_node_s_pillar_on_the_master_only(tmp_path: Path) -> None:
    from workbench.engine.provision.bundle import MINION_CONF, current_bundle, master_mode_bundles
    from workbench.engine.provision.cluster import NodeAddress, cluster_spec
    from workbench.engine.provision.pki import ClusterPKI
    from workbench.state import StateDir

    nodes = [NodeAddress("lab-master", "master", "192.168.0.2", "172.24.4.9"),
             NodeAddress("lab-minion-1", "minion", "192.168.0.3", None),
             NodeAddress("lab-minion-2", "minion", "192.168.0.4", None)]
    profile = profile_from_mapping({"cluster": {"minions": 2, "name": "lab"}}, tmp_path / "p.toml", {})
    spec = cluster_spec(profile, nodes, version="v1.32.3", layout="current")
    pki = ClusterPKI(StateDir(tmp_path / "state").ensure())
    masterless = {n.name: current_bundle(spec, spec.node(n.name), pki) for n in nodes}
    made = master_mode_bundles(spec, masterless)
    assert set(made) == {n.name for n in nodes}
    for name, bundle in made.items():
        conf = yaml.safe_load(bundle.file(MINION_CONF).data)
        assert "file_client" not in conf and "pillar_roots" not in conf and "file_roots" not in conf
        if name != "lab-master":
            assert not [f.path for f in bundle.files if f.path.startswith("/srv/pillar")]
    master = made["lab-master"]
    top = yaml.safe_load(master.file("/srv/pillar/top.sls").data)["base"]
    keys = {"lab-master": "lab-master", "lab-minion-1": "lab-minion-1", "lab-minion-2": "lab-minion-2"}
    assert top == {n: [{"match": "list"}, f"nodes.{key}.cluster", f"nodes.{key}.secrets"] for n, key in keys.items()}
    for n, key in list(keys.items())[1:]:
        secrets = master.file(f"/srv/pillar/nodes/{key}/secrets.sls")
        assert secrets.mode == 0o600 and secrets.secret
        assert secrets.data == masterless[n].file("/srv/pillar/secrets.sls").data  # its own, unchanged
        assert master.file(f"/srv/pillar/nodes/{key}/cluster.sls").data == masterless[n].file("/srv/pillar/cluster.sls").data
