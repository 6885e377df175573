"""`workbench redeploy` from an empty cloud, on machine-like nodes with real Salt: the cluster
forms from the engine's own provisioning alone (issue 17's "done when", current layout)."""

from __future__ import annotations

import base64
import json
import socket
import ssl

import yaml

from workbench.sandbox.kuberoot import CURRENT_VERSION


def test_redeploy_from_an_empty_cloud_gives_ready_nodes_of_the_build(real_cluster) -> None:
    doc = real_cluster.redeploy
    assert doc["ok"] is True, doc
    stages = [s["name"] for s in doc["stages"]]
    assert stages == ["build", "up", "push", "salt", "verify"], doc  # up filled the empty cloud
    assert real_cluster.ready_nodes() == {"kubernetes-minion-1": CURRENT_VERSION,
                                          "kubernetes-minion-2": CURRENT_VERSION}, stages


def test_the_api_server_answers_with_the_ca_in_the_workbench_kubeconfig(real_cluster) -> None:
    config = yaml.safe_load(real_cluster.admin_kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cadata=ca)
    context.check_hostname = False  # the server is an IP; the SAN check is pki's test
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:  # fails unless the chain ends at that CA
        assert tls.getpeercert() is not None
    version = real_cluster.kubectl("version", "-o", "json")
    assert version.returncode == 0, version.stderr
    assert json.loads(version.stdout)["serverVersion"]["gitVersion"] == CURRENT_VERSION
