"""The profile's [kube] cluster parameters: defaults, the seed's variables, one-line errors."""

from pathlib import Path

import pytest

from workbench.errors import ProfileError
from workbench.profile import load_profile


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def test_defaults_and_extra_flags(tmp_path):
    path = write(tmp_path, '[kube]\nservice_cidr = "10.96.0.0/12"\n'
                 '[kube.extra_flags]\nkube-apiserver = ["--v=4", "--audit-log-maxage=3"]\n')
    kube = load_profile(path, environ={}).kube
    assert kube.service_cidr == "10.96.0.0/12"
    assert kube.pod_cidr == "10.244.0.0/16"
    assert kube.extra_flags == {"kube-apiserver": ("--v=4", "--audit-log-maxage=3")}


def test_kube_up_variables_overlay_the_file(tmp_path):
    path = write(tmp_path, '[kube]\nservice_cidr = "10.96.0.0/12"\n')
    env = {"SERVICE_CLUSTER_IP_RANGE": "10.247.0.0/16", "CLUSTER_IP_RANGE": "10.246.0.0/16",
           "DNS_SERVER_IP": "10.247.0.10", "DNS_DOMAIN": "kubernetes.local"}
    kube = load_profile(path, environ=env).kube
    assert (kube.service_cidr, kube.pod_cidr, kube.dns_ip, kube.dns_domain) == (
        "10.247.0.0/16", "10.246.0.0/16", "10.247.0.10", "kubernetes.local")


@pytest.mark.parametrize(("text", "field"), [
    ('service_cidr = "10.0.0.0/33"', "kube.service_cidr"),
    ('pod_cidr = "10.0.0.0/24"', "kube.pod_cidr"),
    ('pod_cidr = "10.0.0.0/8"', "kube.pod_cidr"),  # overlaps the default service network
    ('dns_ip = "192.168.1.1"', "kube.dns_ip"),
    ('dns_ip = "10.0.0.1"', "kube.dns_ip"),  # the API server's service IP
    ('dns_domain = "Cluster Local"', "kube.dns_domain"),
    ('container_runtime_endpoint = "/run/containerd.sock"', "kube.container_runtime_endpoint"),
    ('pod_network = "weave"', "kube.pod_network"),
    ('listen = "everywhere"', "kube.listen"),
    ('extra_flags = { kube-dns = ["--v=2"] }', "kube.extra_flags.kube-dns"),
    ('extra_flags = { kubelet = ["v=2"] }', "kube.extra_flags.kubelet"),
    ('extra_flags = { kubelet = ["--v=2 --bad"] }', "kube.extra_flags.kubelet"),
    ('extra_flags = { kubelet = "--v=2" }', "kube.extra_flags"),
])
def test_bad_kube_values_name_file_and_field(tmp_path, text, field):
    path = write(tmp_path, f"[kube]\n{text}\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: ") and "\n" not in message
