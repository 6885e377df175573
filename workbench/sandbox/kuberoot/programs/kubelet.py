"""kubelet: --kubeconfig, --config (a KubeletConfiguration), --hostname-override, --node-ip;
registers its Node and posts its status every nodeStatusUpdateFrequency with whatever
credential the kubeconfig holds, logging the real messages when the API server refuses."""

import os
import platform
import socket
import sys
import threading
import time

import kclient
import kflags
import klog
import miniyaml
import objects
import runtime

CONFIG_KIND = ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")


def load_config(path):
    if not path:
        return {}
    try:
        with open(path) as f:
            doc = miniyaml.load(f.read()) or {}
    except OSError as exc:
        runtime.fail_run(f"failed to load kubelet config file, path: {path}, error: failed to load Kubelet config file {path}, "
                         f"error failed to read kubelet config file \"{path}\", error: open {path}: {exc.strerror.lower()}")
    except ValueError as exc:
        runtime.fail_run(f"failed to load kubelet config file, path: {path}, error: {exc}")
    if (doc.get("apiVersion"), doc.get("kind")) != CONFIG_KIND:
        runtime.fail_run(f"failed to load kubelet config file, path: {path}, error: failed to decode: "
                         f"no kind \"{doc.get('kind')}\" is registered for version \"{doc.get('apiVersion')}\" "
                         f"in scheme \"pkg/kubelet/apis/config/scheme/scheme.go:33\"")
    return doc


def node_body(name, node_ip, cfg, ready, since):
    now = objects.stamp(time.time())
    addresses = ([{"type": "InternalIP", "address": node_ip}] if node_ip else []) + [{"type": "Hostname", "address": name}]
    condition = {"type": "Ready", "status": "True" if ready else "False", "lastHeartbeatTime": now,
                 "lastTransitionTime": since, "reason": "KubeletReady" if ready else "KubeletNotReady",
                 "message": "kubelet is posting ready status" if ready else "container runtime is down"}
    return {
        "status": {
            "conditions": [condition], "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": int(cfg.get("port", 10250))}},
            "nodeInfo": {"kubeletVersion": runtime.VERSION, "kubeProxyVersion": runtime.VERSION,
                         "operatingSystem": "linux", "architecture": "amd64", "osImage": _os_image(),
                         "kernelVersion": platform.release(), "containerRuntimeVersion": "docker://1.9.1" if runtime.SEED_ERA else "containerd://1.7.24",
                         "machineID": _read("/etc/machine-id"), "bootID": _read("/proc/sys/kernel/random/boot_id")},
            "capacity": {"cpu": str(os.cpu_count() or 1), "pods": str(cfg.get("maxPods", 110))},
            "allocatable": {"cpu": str(os.cpu_count() or 1), "pods": str(cfg.get("maxPods", 110))},
        }
    }


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _os_image():
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def main(argv):
    values = runtime.parse(argv)
    get = lambda name, default="": kflags.last(values, name, default)  # noqa: E731
    # v1.2's --config is the static pod manifest directory, not a KubeletConfiguration
    cfg = {} if runtime.SEED_ERA else load_config(get("config"))
    name = (get("hostname-override") or socket.gethostname()).lower()
    node_ip = get("node-ip")
    freq = kflags.duration(get("node-status-update-frequency") or cfg.get("nodeStatusUpdateFrequency", "10s"))
    klog.info("server.go:486", "Kubelet version", kubeletVersion=runtime.VERSION)
    kubeconfig = get("kubeconfig")
    # the seed era: the API server from --api-servers, the kubeconfig only for credentials
    api_server = get("api-servers").split(",")[0].strip() if runtime.SEED_ERA else ""
    if not kubeconfig and not api_server:
        klog.info("server.go:660", "Standalone mode, no API client")
        klog.info("kubelet.go:1548", "No API server defined - no node status update will be sent")
        runtime.wait_forever()
    try:
        client = kclient.Client(kubeconfig, server=api_server or None)
    except (kclient.ConfigError, OSError) as exc:
        runtime.fail_run(f"invalid kubeconfig: {exc}" if "no such file" not in str(exc) else
                         f"failed to run Kubelet: unable to load kubeconfig: {exc}")
    stop = threading.Event()
    since = objects.stamp(time.time())

    def heartbeat():
        registered = False
        while not stop.is_set():
            try:
                if not registered:
                    klog.info("kubelet_node_status.go:75", "Attempting to register node", node=name)
                    body = node_body(name, node_ip, cfg, True, since)
                    body.update({"kind": "Node", "apiVersion": "v1",
                                 "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                              "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}}})
                    try:
                        client.request("POST", "/api/v1/nodes", body)
                    except kclient.ApiError as exc:
                        if exc.code != 409:
                            raise
                    registered = True
                    klog.info("kubelet_node_status.go:78", "Successfully registered node", node=name)
                client.request("PATCH", f"/api/v1/nodes/{name}/status", node_body(name, node_ip, cfg, True, since),
                               content_type="application/strategic-merge-patch+json")
            except kclient.ApiError as exc:
                if not registered:
                    klog.error("kubelet_node_status.go:97", "Unable to register node with API server", err=str(exc), node=name)
                else:
                    klog.error("kubelet_node_status.go:549", "Error updating node status, will retry",
                               err=f'error getting node "{name}": {exc}')
            except OSError as exc:
                klog.error("kubelet_node_status.go:549", "Error updating node status, will retry",
                           err=f'error getting node "{name}": Get "{client.server}/api/v1/nodes/{name}": {exc}')
            stop.wait(freq)

    threading.Thread(target=heartbeat, daemon=True).start()
    runtime.wait_forever(stop.set)


if __name__ == "__main__":
    main(sys.argv[1:])
