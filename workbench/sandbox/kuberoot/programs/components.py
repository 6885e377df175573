"""kube-controller-manager, kube-scheduler, kube-proxy: their command lines, a working
kubeconfig checked against the API server, then they stay up. The controller manager runs
the node lifecycle check: a node whose status is older than --node-monitor-grace-period
gets Ready=Unknown ("Kubelet stopped posting node status."), as the real one does."""

import calendar
import sys
import threading
import time

import kclient
import kflags
import klog
import miniyaml
import objects
import runtime

CONFIG_KINDS = {  # the --config file each component accepts (apiVersion, kind)
    "kube-scheduler": (("kubescheduler.config.k8s.io/v1",), "KubeSchedulerConfiguration"),
    "kube-proxy": (("kubeproxy.config.k8s.io/v1alpha1",), "KubeProxyConfiguration"),
}


def load_config(values):
    """The component's --config file (its clientConnection.kubeconfig is used when given)."""
    path = kflags.last(values, "config")
    if not path:
        return {}
    runtime.need_file("config", path)
    try:
        with open(path) as f:
            doc = miniyaml.load(f.read()) or {}
    except (OSError, ValueError) as exc:
        runtime.fail_run(f"failed to load config file {path}: {exc}")
    versions, kind = CONFIG_KINDS[runtime.COMPONENT]
    if doc.get("kind") != kind or doc.get("apiVersion") not in versions:
        runtime.fail_run(f"no kind \"{doc.get('kind')}\" is registered for version \"{doc.get('apiVersion')}\"")
    return doc


def connect(values, where, config=None):
    client_connection = (config or {}).get("clientConnection") or {}
    kubeconfig = (kflags.last(values, "kubeconfig") or client_connection.get("kubeconfig")
                  or kflags.last(values, "authentication-kubeconfig"))
    # the seed era's command lines name the API server with --master (its insecure port
    # for the controller manager and the scheduler), with or without a kubeconfig
    master = kflags.last(values, "master") if runtime.SEED_ERA else ""
    if not kubeconfig and not master:
        klog.warning("client_config.go:659", "Neither --kubeconfig nor --master was specified.  Using the "
                     "inClusterConfig.  This might not work.")
        runtime.fail_run("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                         "KUBERNETES_SERVICE_PORT must be defined")
    try:
        client = kclient.Client(kubeconfig, server=master or None)
    except (kclient.ConfigError, OSError) as exc:
        runtime.fail_run(f"invalid configuration: {exc}")
    deadline = time.monotonic() + 60
    while True:
        try:
            client.request("GET", "/healthz")
            client.request("GET", "/api/v1/namespaces/kube-system")
            klog.info(where, "Connected to the API server", host=client.server)
            return client
        except (kclient.ApiError, OSError) as exc:
            if time.monotonic() > deadline:
                runtime.fail_run(f"failed to wait for apiserver being healthy: {exc}")
            klog.error(where, "Unable to reach the API server, will retry", err=str(exc))
            time.sleep(1)


def controller_manager(values):
    client = connect(values, "controllermanager.go:238")
    period = kflags.duration(kflags.last(values, "node-monitor-period", "5s"))
    grace = kflags.duration(kflags.last(values, "node-monitor-grace-period", "40s"))
    stop = threading.Event()

    def lifecycle():
        while not stop.wait(period):
            try:
                nodes = client.request("GET", "/api/v1/nodes").get("items", [])
            except (kclient.ApiError, OSError) as exc:
                klog.error("node_lifecycle_controller.go:713", "Error monitoring node health", err=str(exc))
                continue
            for node in nodes:
                conds = node.get("status", {}).get("conditions", [])
                ready = next((c for c in conds if c.get("type") == "Ready"), None)
                if ready is None or ready.get("status") == "Unknown":
                    continue
                beat = _seconds(ready.get("lastHeartbeatTime", ""))
                if time.time() - beat <= grace:
                    continue
                name = node["metadata"]["name"]
                unknown = {**ready, "status": "Unknown", "reason": "NodeStatusUnknown",
                           "message": "Kubelet stopped posting node status.",
                           "lastTransitionTime": objects.stamp(time.time())}
                try:
                    client.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"conditions": [unknown]}},
                                   content_type="application/merge-patch+json")
                    klog.info("node_lifecycle_controller.go:1003", "Node is unresponsive. Adding it to the Taint queue", node=name)
                except (kclient.ApiError, OSError) as exc:
                    klog.error("node_lifecycle_controller.go:745", "Error updating node", node=name, err=str(exc))

    threading.Thread(target=lifecycle, daemon=True).start()
    klog.info("controllermanager.go:797", "Started controller", controller="node-lifecycle-controller")
    runtime.wait_forever(stop.set)


def _seconds(stamp):
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return 0.0


def scheduler(values):
    connect(values, "server.go:167", load_config(values))
    klog.info("leaderelection.go:257", "attempting to acquire leader lease kube-system/kube-scheduler...")
    runtime.wait_forever()


def proxy(values):
    connect(values, "server.go:695", load_config(values))
    klog.info("server_linux.go:66", "Using iptables proxy")
    runtime.wait_forever()


def main(argv):
    values = runtime.parse(argv)
    {"kube-controller-manager": controller_manager, "kube-scheduler": scheduler, "kube-proxy": proxy}[runtime.COMPONENT](values)


if __name__ == "__main__":
    main(sys.argv[1:])
