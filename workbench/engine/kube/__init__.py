"""The cluster as Kubernetes sees it: kubectl / API client and the kubelet tokens."""

from workbench.engine.kube.client import KubeClient, KubeError, fetch_ca, server_url

__all__ = ["KubeClient", "KubeError", "fetch_ca", "server_url"]
