"""Bad input: every parser either parses or raises a WorkbenchError with one line.

Hypothesis feeds each parser arbitrary text and structured-but-wrong documents (JSON and
YAML of the right outer shape with wrong types inside). Explicit ``@example``s pin inputs
that once escaped, so a regression fails on every run, not only when hypothesis finds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from workbench.engine.build.stages import StageParser, stage_of
from workbench.engine.kube import client as kube
from workbench.engine.kube import tokens
from workbench.engine.salt import runner as salt
from workbench.engine.ssh import hostkeys
from workbench.errors import WorkbenchError
from workbench.profile import load_profile, profile_from_mapping

from .conftest import count

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)
lines = st.lists(st.text(max_size=60), max_size=30).map("\n".join)


def contained(fn: Callable[[], Any], what: str) -> None:
    """``fn()`` returns, or raises a WorkbenchError whose message is one line."""
    count(f"inputs fuzzed: {what}")
    try:
        fn()
    except WorkbenchError as exc:
        text = str(exc)
        assert text and "\n" not in text, f"{what}: multi-line error {text!r}"


# -- profile TOML ---------------------------------------------------------------------

profile_keys = st.sampled_from(["cloud", "cluster", "ssh", "kube", "paths", "push", "ui", "keymap",
                                "state_dir", "sandbox", "bogus"])
field_names = st.sampled_from(["name", "region", "clouds_yaml", "minions", "image", "master_ip", "node_ip_base",
                               "user", "private_key", "port", "connect_timeout", "root", "platforms",
                               "run_tests", "known_tokens", "theme", "include_tars", "extra", "nope"])
profile_docs = st.dictionaries(profile_keys, json_values | st.dictionaries(field_names, json_values, max_size=6),
                               max_size=6)


@FUZZ
@given(doc=profile_docs)
@example(doc={"cluster": {"minions": 10**6}})
@example(doc={"cluster": {"node_ip_base": "1.2.3."}, "ssh": {"port": 0}})
def test_profile_mappings(doc: dict[str, Any]) -> None:
    contained(lambda: profile_from_mapping(doc, Path("/fuzz/profile.toml"), {}), "profile mapping")


@FUZZ
@given(text=st.text(max_size=300) | profile_docs.map(lambda d: json.dumps(d).replace(":", " =")))
@example(text="[cluster]\nminions = \"three\"\n")
@example(text="\udcff")
def test_profile_toml_files(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("p") / "profile.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    contained(lambda: load_profile(path, environ={}), "profile TOML")


# -- Salt ---------------------------------------------------------------------------------

salt_docs = st.dictionaries(st.text(max_size=10), json_values | st.dictionaries(
    st.text(max_size=30), st.dictionaries(st.sampled_from(
        ["__run_num__", "duration", "comment", "result", "changes", "name", "__id__"]), json_values, max_size=7),
    max_size=4), min_size=1, max_size=1)


@FUZZ
@given(text=st.text(max_size=400) | salt_docs.map(json.dumps))
@example(text='{"local": {"a_|-b_|-c_|-d": {"duration": "fast"}}}')
@example(text='{"local": {"x": {"__run_num__": "1"}, "y": {"__run_num__": 2}}}')
@example(text='{"local": {"x": 1}}')
@example(text='{"local": {"x": {"result": "yes"}}}')
def test_salt_json_output(text: str) -> None:
    contained(lambda: salt.parse_output(text), "salt JSON")
    contained(lambda: salt.readable_lines(text), "salt log lines")


def test_a_malformed_salt_state_is_named_in_one_line() -> None:
    text = '[INFO ] starting\n{"local": {"file_|-kubeconfig_|-/k_|-managed": {"duration": "fast"}}}'
    with pytest.raises(salt.SaltOutputError) as caught:
        salt.parse_output(text)
    assert str(caught.value) == ("salt output: state 'file_|-kubeconfig_|-/k_|-managed' is malformed "
                                 "(duration 'fast' is not a number of ms)")
    assert salt.readable_lines(text) == text.splitlines()  # the logs still show what Salt said
    older = '{"local": {"b": {"__run_num__": 1, "duration": "2.5 ms"}, "a": {"__run_num__": 0, "duration": 1}}}'
    assert [(s.id, s.duration_ms) for s in salt.parse_output(older)] == [("a", 1.0), ("b", 2.5)]


salt_fields = st.sampled_from(["          ID: ", "    Function: ", "        Name: ", "      Result: ",
                               "     Comment: ", "     Started: ", "    Duration: ", "     Changes: ",
                               "----------", "Summary for local", "Data failed to compile:", "    "])
salt_text = st.lists(st.tuples(salt_fields, st.text(max_size=30)).map("".join), max_size=40).map("\n".join)


@FUZZ
@given(text=salt_text | st.text(max_size=400))
def test_salt_text_output(text: str) -> None:
    contained(lambda: salt.parse_highstate_text(text), "salt text")


# -- tokens and kubeconfig ---------------------------------------------------------------

@FUZZ
@given(text=st.text(max_size=300) | st.lists(st.lists(st.text(max_size=12), max_size=4).map(",".join),
                                              max_size=6).map("\n".join))
@example(text='"unterminated,kubelet')
@example(text="x" * 200_000)  # past the csv module's field limit
def test_known_tokens_csv(text: str) -> None:
    contained(lambda: tokens.master_token_from_csv(text), "known_tokens.csv")


kubeconfigs = st.fixed_dictionaries({}, optional={
    "users": json_values | st.lists(st.fixed_dictionaries({}, optional={
        "name": json_values, "user": json_values}), max_size=3),
    "contexts": json_values | st.lists(st.fixed_dictionaries({}, optional={
        "name": json_values, "context": json_values}), max_size=3),
    "current-context": json_values,
})


@FUZZ
@given(text=st.text(max_size=300) | kubeconfigs.map(lambda d: yaml.safe_dump(d)))
@example(text="users: [\n")  # YAML syntax error
@example(text="contexts: [{name: null, context: [1]}]\n")
@example(text="a: 2001-13-01\n")  # a bad timestamp: ValueError inside the YAML loader
@example(text="users: [{name: kubelet, user: [1]}]\n")
@example(text="[1, 2]\n")
def test_kubeconfig_yaml(text: str) -> None:
    def both() -> None:
        tokens.kubeconfig_token(text)
        tokens.with_token(text, "tok")

    contained(both, "kubeconfig YAML")


@pytest.mark.parametrize(("text", "message"), [
    ("users: [\n", "kubeconfig: not valid YAML at line 2, column 1 (expected the node content, but found '<stream end>')"),
    ("contexts: [{name: null, context: [1]}]\n", "kubeconfig: contexts[0].context: expected a mapping"),
    ("users: kubelet\n", "kubeconfig: users: expected a list, found str"),
    ("[1, 2]\n", "kubeconfig: expected a mapping, found list"),
])
def test_a_malformed_kubeconfig_names_what_is_wrong(text: str, message: str) -> None:
    for parse in (tokens.kubeconfig_token, lambda t: tokens.with_token(t, "tok")):
        with pytest.raises(tokens.KubeconfigError) as caught:
            parse(text)
        assert str(caught.value) == message


def test_a_kubeconfig_token_is_read_and_replaced() -> None:
    text = ("current-context: c\ncontexts: [{name: c, context: {user: kubelet}}]\n"
            "users: [{name: other, user: {token: a}}, {name: kubelet, user: {token: old}}]\n")
    assert tokens.kubeconfig_token(text) == "old"
    assert tokens.kubeconfig_token(tokens.with_token(text, "new")) == "new"
    assert tokens.kubeconfig_token("") is None


# -- build output -------------------------------------------------------------------------

build_lines = st.tuples(st.sampled_from(["+++ [0102 03:04:05] ", "!!! ", "", "ERROR: ", "+++ "]),
                        st.sampled_from(["Building go targets for ", "Verifying Prerequisites", "Running tests",
                                         "Building tarball", "Error: ", ""]),
                        st.text(max_size=40)).map("".join)


@FUZZ
@given(feed=st.lists(build_lines | st.text(max_size=80), max_size=40))
def test_build_output(feed: list[str]) -> None:
    def run() -> None:
        parser = StageParser()
        for i, line in enumerate(feed):
            parser.feed(line, float(i))
            stage_of(line)
        parser.finish(float(len(feed)))
        parser.explanation()

    contained(run, "build output")


# -- kubectl JSON --------------------------------------------------------------------------

kube_items = st.lists(st.fixed_dictionaries({}, optional={
    "metadata": json_values, "spec": json_values,
    "status": json_values | st.fixed_dictionaries({}, optional={
        "conditions": json_values, "nodeInfo": json_values, "containerStatuses": json_values | st.lists(
            st.fixed_dictionaries({}, optional={"ready": json_values, "restartCount": json_values}), max_size=3),
        "phase": json_values, "reason": json_values})}), max_size=4)


kube_docs = st.text(max_size=200) | kube_items.map(lambda items: json.dumps({"items": items}))


@FUZZ
@given(text=kube_docs)
@example(text='{"items": [{"status": ["Ready"]}]}')
@example(text='{"items": [{"status": {"containerStatuses": [{"restartCount": "many"}]}}]}')
def test_kubectl_json(text: str) -> None:
    contained(lambda: kube.parse_nodes(text), "kubectl nodes JSON")
    contained(lambda: kube.parse_pods(text), "kubectl pods JSON")


@FUZZ
@given(text=kube_docs | st.lists(st.text(max_size=30).map(lambda t: f"\x1b[0;32m{t}\x1b[0m is running at "
                                                                  f"http://127.0.0.1:8080/{t}"), max_size=5).map("\n".join))
def test_kubectl_cluster_info(text: str) -> None:
    contained(lambda: kube.parse_cluster_info(text), "kubectl cluster-info")


# -- console output with host keys ---------------------------------------------------------

console_lines = st.sampled_from([
    "-----BEGIN SSH HOST KEY FINGERPRINTS-----", "-----END SSH HOST KEY FINGERPRINTS-----",
    "-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----",
    "ec2: 256 SHA256:abc root@host (ED25519)", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI",
    "ssh-rsa AAAA//// x", "ecdsa-sha2-nistp256 AAAAE2VjZHNh",
]) | st.text(max_size=60)


@FUZZ
@given(text=st.lists(console_lines, max_size=30).map("\n".join))
@example(text="-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAA\n-----END SSH HOST KEY KEYS-----")
def test_console_host_keys(text: str) -> None:
    contained(lambda: hostkeys.parse_console_host_keys(text), "console host keys")


# -- clouds.yaml values, through the real connection path -----------------------------------

CLOUD_FIELDS = ["auth.auth_url", "auth.username", "auth.password", "auth.project_name", "auth.user_domain_name",
                "auth.project_domain_name", "region_name", "identity_api_version", "interface", "auth"]
# no scheme, so nothing is ever looked up or sent beyond loopback
safe_text = st.text(max_size=20).filter(lambda t: "://" not in t and "\\" not in t)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(CLOUD_FIELDS), value=json_values.filter(lambda v: "://" not in json.dumps(v))
       | safe_text | st.sampled_from(["http://127.0.0.1:1/v3", "{api}"]))
@example(field="auth.password", value="wrong-password")
@example(field="region_name", value="Atlantis")
def test_clouds_yaml_values(sandbox: Any, tmp_path_factory: pytest.TempPathFactory, field: str, value: Any) -> None:
    import asyncio

    from workbench.engine.cloud.client import CloudCore

    doc = yaml.safe_load(Path(sandbox.clouds_path).read_text())
    password = doc["clouds"]["sandbox"]["auth"]["password"]
    if isinstance(value, str):
        value = value.replace("{api}", sandbox.api_url)
    target = doc["clouds"]["sandbox"]
    *parents, leaf = field.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value
    where = tmp_path_factory.mktemp("clouds")
    clouds = where / "clouds.yaml"
    clouds.write_text(yaml.safe_dump(doc))
    clouds.chmod(0o600)
    profile = load_profile(_profile_for(where, clouds), environ={})
    core = CloudCore(profile, attempts=1, backoff=0.0)

    def connect() -> None:
        try:
            asyncio.run(core.connect())
        except WorkbenchError as exc:
            assert password not in str(exc)
            raise
        finally:
            core.close()

    contained(connect, "clouds.yaml values")


def test_a_non_ascii_password_is_a_plain_auth_failure(sandbox: Any, tmp_path: Path) -> None:
    from workbench.engine.cloud.client import CloudCore
    from workbench.errors import CloudAuthError

    doc = yaml.safe_load(Path(sandbox.clouds_path).read_text())
    doc["clouds"]["sandbox"]["auth"]["password"] = "pässwörd-wrong"
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump(doc))
    core = CloudCore(load_profile(_profile_for(tmp_path, clouds), environ={}), attempts=1, backoff=0.0)
    try:
        with pytest.raises(CloudAuthError):
            core._connect_sync()
    finally:
        core.close()


def _profile_for(where: Path, clouds: Path) -> Path:
    path = where / "profile.toml"
    path.write_text(f'state_dir = "{where / "state"}"\n[cloud]\nname = "sandbox"\nclouds_yaml = "{clouds}"\n')
    return path


@pytest.mark.parametrize(("identity", "status"), [
    ({"methods": ["password"], "password": {"user": {"name": "workbench", "password": "pässwörd"}}}, 401),
    ({"methods": ["password"], "password": {"user": {"name": "workbench", "password": "\ud800"}}}, 401),
    ({"methods": ["password"], "password": {"user": {"name": "workbench", "password": 12}}}, 401),
    ({"methods": ["password"], "password": "admin"}, 400),
    ({"methods": 5}, 400),
    ("password", 400),
])
def test_keystone_answers_odd_auth_bodies_without_a_500(sandbox: Any, identity: Any, status: int) -> None:
    import urllib.error
    import urllib.request

    body = json.dumps({"auth": {"identity": identity}}).encode()
    request = urllib.request.Request(f"{sandbox.api_url}/v3/auth/tokens", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == status
