#!/usr/bin/env python3
"""Generate the fake build's flag tables from Kubernetes' and etcd's own Go sources.

Reads git mirrors (``fetch github:kubernetes/apiserver`` etc.) at release tags, finds every
pflag / Go flag registration (``fs.StringVar(&x, "name", ...)``, ``fs.Var(v, "name", ...)``,
``fs.Bool("name", ...)``, ``MarkDeprecated("name", ...)``) in the functions each component
calls, and writes ``workbench/sandbox/kuberoot/programs/flagtables/<version>.json``:
``{component: {flag: {"bool": bool, "deprecated": str, "source": "repo@tag:path"}}}``.

kubernetes/kubernetes itself (cmd/*, pkg/kubeapiserver) is over the snapshot size limit
here, so each component's own cmd flags are listed in ``HAND`` below, each with its path;
they were typed, not generated, and say so in the table (``"source": "hand:..."``).

Usage: python3 tools/kube_flags.py MIRRORS_DIR   (MIRRORS_DIR holds owner+name/repo)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "workbench/sandbox/kuberoot/programs/flagtables"
K8S = "v1.32.4"
STAGING = "v0.32.4"  # the staging repos' tag for K8S
ETCD = "v3.5.16"  # the etcd kubeadm pairs with 1.32 (cmd/kubeadm/app/constants)

# (repo, tag, path, functions) -> flags; functions None = every registration in the file
APISERVER_GENERIC = [
    ("kubernetes+apiserver", STAGING, "pkg/server/options/server_run_options.go", ["AddUniversalFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/serving.go", ["AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/etcd.go", ["AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/audit.go", None),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/feature.go", ["AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/admission.go", ["AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/api_enablement.go", ["AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/egress_selector.go", ["AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/tracing.go", ["AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/authentication.go",
     ["RequestHeaderAuthenticationOptions.AddFlags", "ClientCertAuthenticationOptions.AddFlags"]),
]
DELEGATING = [
    ("kubernetes+apiserver", STAGING, "pkg/server/options/serving.go", ["AddFlags"]),
    # DelegatingAuthenticationOptions.AddFlags calls the other two
    ("kubernetes+apiserver", STAGING, "pkg/server/options/authentication.go",
     ["DelegatingAuthenticationOptions.AddFlags", "RequestHeaderAuthenticationOptions.AddFlags",
      "ClientCertAuthenticationOptions.AddFlags"]),
    ("kubernetes+apiserver", STAGING, "pkg/server/options/authorization.go", ["DelegatingAuthorizationOptions.AddFlags"]),
]
COMMON = [  # every component: logging, feature gates, version, metrics
    ("kubernetes+component-base", STAGING, "logs/api/v1/options.go", None),
    ("kubernetes+component-base", STAGING, "version/verflag/verflag.go", None),
]
FEATURES = [("kubernetes+component-base", STAGING, "featuregate/feature_gate.go", None)]
METRICS = [("kubernetes+component-base", STAGING, "metrics/options.go", None)]
LEADER = [("kubernetes+component-base", STAGING, "config/options/leaderelectionconfig.go", None)]
CONTROLLER_GENERIC = [
    ("kubernetes+controller-manager", STAGING, "options/generic.go", None),
    ("kubernetes+controller-manager", STAGING, "options/debugging.go", None),
]
SOURCES = {
    "kube-apiserver": APISERVER_GENERIC + COMMON + FEATURES + METRICS,
    "kube-controller-manager": DELEGATING + COMMON + FEATURES + METRICS + LEADER + CONTROLLER_GENERIC,
    "kube-scheduler": DELEGATING + COMMON + FEATURES + METRICS + LEADER,
    "kubelet": COMMON + FEATURES,
    "kube-proxy": COMMON + FEATURES,
    "etcd": [("etcd-io+etcd", ETCD, "server/etcdmain/config.go", ["newConfig"])],
}
# klog's own flags, which component-base adds through klogflags.Init (logs/klogflags)
KLOG = {"v": False, "vmodule": False}

# Typed from kubernetes/kubernetes@v1.32 (the paths given): that repo is 1.9 GB, over the
# snapshot limit here. Bool flags end in "?"; deprecation messages are in HAND_DEPRECATED.
HAND = {
    "kube-apiserver": ("cmd/kube-apiserver/app/options/options.go, pkg/controlplane/apiserver/options/options.go, "
                       "pkg/kubeapiserver/options/{authentication,authorization,admission}.go", """
        allow-privileged? apiserver-count
        endpoint-reconciler-type kubelet-port kubelet-read-only-port
        kubelet-timeout kubelet-client-certificate kubelet-client-key kubelet-certificate-authority
        kubelet-preferred-address-types proxy-client-cert-file proxy-client-key-file enable-aggregator-routing?
        aggregator-reject-forwarding-redirect? service-node-port-range service-cluster-ip-range
        master-service-namespace event-ttl
        max-connection-bytes-per-sec enable-logs-handler? identity-lease-duration-seconds
        identity-lease-renew-interval-seconds peer-ca-file peer-advertise-ip peer-advertise-port
        service-account-signing-key-file service-account-issuer service-account-jwks-uri
        service-account-max-token-expiration service-account-extend-token-expiration? service-account-key-file
        service-account-lookup? anonymous-auth? api-audiences authentication-config
        authentication-token-webhook-cache-ttl authentication-token-webhook-config-file
        authentication-token-webhook-version enable-bootstrap-token-auth? oidc-issuer-url oidc-client-id
        oidc-ca-file oidc-username-claim oidc-username-prefix oidc-groups-claim oidc-groups-prefix
        oidc-signing-algs oidc-required-claim token-auth-file authorization-mode authorization-policy-file
        authorization-webhook-config-file authorization-webhook-version authorization-webhook-cache-authorized-ttl
        authorization-webhook-cache-unauthorized-ttl authorization-config admission-control
        admission-control-config-file enable-admission-plugins disable-admission-plugins
        cloud-provider-gce-lb-src-cidrs cloud-provider-gce-l7lb-src-cidrs cloud-config cloud-provider
        encryption-provider-config encryption-provider-config-automatic-reload? storage-backend
        etcd-servers etcd-prefix etcd-keyfile etcd-certfile etcd-cafile etcd-compaction-interval
        etcd-count-metric-poll-period etcd-db-metric-poll-interval etcd-healthcheck-timeout
        etcd-readycheck-timeout default-watch-cache-size watch-cache? watch-cache-sizes
        lease-reuse-duration-seconds show-hidden-metrics-for-version disabled-metrics allow-metric-labels
        allow-metric-labels-manifest
    """),
    "kube-controller-manager": ("cmd/kube-controller-manager/app/options/*.go", """
        kubeconfig master controllers cluster-name cluster-cidr allocate-node-cidrs? cidr-allocator-type
        configure-cloud-routes? node-cidr-mask-size node-cidr-mask-size-ipv4 node-cidr-mask-size-ipv6
        service-cluster-ip-range node-monitor-period node-monitor-grace-period node-startup-grace-period
        node-eviction-rate secondary-node-eviction-rate large-cluster-size-threshold unhealthy-zone-threshold
        pod-eviction-timeout root-ca-file
        service-account-private-key-file use-service-account-credentials? cluster-signing-cert-file
        cluster-signing-key-file cluster-signing-duration cluster-signing-kubelet-serving-cert-file
        cluster-signing-kubelet-serving-key-file cluster-signing-kubelet-client-cert-file
        cluster-signing-kubelet-client-key-file cluster-signing-kube-apiserver-client-cert-file
        cluster-signing-kube-apiserver-client-key-file cluster-signing-legacy-unknown-cert-file
        cluster-signing-legacy-unknown-key-file concurrent-deployment-syncs concurrent-replicaset-syncs
        concurrent-rc-syncs concurrent-service-syncs concurrent-serviceaccount-token-syncs
        concurrent-namespace-syncs concurrent-endpoint-syncs concurrent-gc-syncs concurrent-job-syncs
        concurrent-cron-job-syncs concurrent-statefulset-syncs concurrent-daemonset-syncs
        concurrent-horizontal-pod-autoscaler-syncs concurrent-ttl-after-finished-syncs
        concurrent-resource-quota-syncs concurrent-ephemeralvolume-syncs concurrent-service-endpoint-syncs
        concurrent-validating-admission-policy-status-syncs concurrent-pod-gc-syncs? terminated-pod-gc-threshold
        enable-garbage-collector? enable-hostpath-provisioner? enable-taint-manager
        horizontal-pod-autoscaler-sync-period horizontal-pod-autoscaler-tolerance
        horizontal-pod-autoscaler-downscale-stabilization horizontal-pod-autoscaler-cpu-initialization-period
        horizontal-pod-autoscaler-initial-readiness-delay namespace-sync-period resource-quota-sync-period
        pv-recycler-pod-template-filepath-nfs pv-recycler-minimum-timeout-nfs pv-recycler-increment-timeout-nfs
        pv-recycler-pod-template-filepath-hostpath pv-recycler-minimum-timeout-hostpath
        pv-recycler-timeout-increment-hostpath flex-volume-plugin-dir disable-attach-detach-reconcile-sync?
        attach-detach-reconcile-sync-period disable-force-detach-on-timeout? route-reconciliation-period
        external-cloud-volume-plugin cloud-config cloud-provider mirroring-concurrent-service-endpoint-syncs
        mirroring-max-endpoints-per-subset mirroring-endpointslice-updates-batch-period
        max-endpoints-per-slice endpoint-updates-batch-period endpointslice-updates-batch-period
        legacy-service-account-token-clean-up-period volume-host-cidr-denylist volume-host-allow-local-loopback?
        leader-migrator-config enable-leader-migration? kube-api-qps kube-api-burst kube-api-content-type
        node-sync-period min-resync-period controller-start-interval
        disabled-metrics show-hidden-metrics-for-version allow-metric-labels allow-metric-labels-manifest
    """),
    "kube-scheduler": ("cmd/kube-scheduler/app/options/{options,deprecated,insecure_serving}.go", """
        config write-config-to master kubeconfig pod-max-in-unschedulable-pods-duration
        kube-api-content-type kube-api-qps kube-api-burst
        disabled-metrics show-hidden-metrics-for-version allow-metric-labels allow-metric-labels-manifest
    """),
    "kubelet": ("cmd/kubelet/app/options/options.go (AddFlags, AddKubeletConfigFlags), globalflags*.go", """
        config config-dir kubeconfig bootstrap-kubeconfig cert-dir hostname-override node-ip
        node-labels register-with-taints lock-file exit-on-lock-contention? seccomp-default? root-dir
        provider-id cloud-provider cloud-config image-credential-provider-config image-credential-provider-bin-dir
        runonce? minimum-container-ttl-duration
        maximum-dead-containers-per-container
        maximum-dead-containers
        register-schedulable? keep-terminated-pod-volumes?
        experimental-mounter-path
        experimental-allocatable-ignore-eviction?
        register-node? pod-infra-container-image
        enable-server? fail-swap-on? fail-cgroupv1? file-check-frequency http-check-frequency
        manifest-url manifest-url-header address port read-only-port tls-cert-file tls-private-key-file
        tls-cipher-suites tls-min-version rotate-certificates? rotate-server-certificates? registry-qps
        registry-burst event-qps event-burst enable-debugging-handlers? contention-profiling?
        healthz-port healthz-bind-address oom-score-adj cluster-domain volume-plugin-dir cluster-dns
        streaming-connection-idle-timeout node-status-update-frequency minimum-image-ttl-duration
        image-gc-high-threshold image-gc-low-threshold volume-stats-agg-period feature-gates
        kubelet-cgroups system-cgroups cgroup-root cgroups-per-qos? cgroup-driver runtime-cgroups
        enforce-node-allocatable qos-reserved cpu-manager-policy cpu-manager-policy-options
        cpu-manager-reconcile-period topology-manager-policy topology-manager-scope
        topology-manager-policy-options memory-manager-policy runtime-request-timeout hairpin-mode
        max-pods pod-cidr pod-max-pids resolv-conf cpu-cfs-quota? cpu-cfs-quota-period
        enable-controller-attach-detach? make-iptables-util-chains? iptables-masquerade-bit
        iptables-drop-bit container-log-max-size container-log-max-files
        allowed-unsafe-sysctls node-status-max-images max-open-files serialize-image-pulls? kube-api-content-type
        kube-api-qps kube-api-burst eviction-hard eviction-soft eviction-soft-grace-period
        eviction-pressure-transition-period eviction-max-pod-grace-period eviction-minimum-reclaim
        pods-per-core protect-kernel-defaults? reserved-cpus topology-manager-policy-options
        system-reserved kube-reserved system-reserved-cgroup kube-reserved-cgroup
        authentication-token-webhook? authentication-token-webhook-cache-ttl anonymous-auth?
        client-ca-file authorization-mode authorization-webhook-cache-authorized-ttl
        authorization-webhook-cache-unauthorized-ttl sync-frequency static-pod-path pod-manifest-path
        reserved-memory container-runtime-endpoint image-service-endpoint local-storage-capacity-isolation?
        storage-driver-buffer-duration storage-driver-db storage-driver-host storage-driver-password
        storage-driver-secure? storage-driver-table storage-driver-user housekeeping-interval
        boot-id-file machine-id-file global-housekeeping-interval log-cadvisor-usage?
        docker-root enable-load-reader? event-storage-age-limit event-storage-event-limit
        application-metrics-count-limit
    """),
    "kube-proxy": ("cmd/kube-proxy/app/options.go", """
        config write-config-to cleanup? master kubeconfig hostname-override bind-address
        bind-address-hard-fail? healthz-bind-address metrics-bind-address cluster-cidr proxy-mode
        nodeport-addresses oom-score-adj pod-bridge-interface pod-interface-name-prefix
        detect-local-mode profiling? iptables-masquerade-bit iptables-min-sync-period iptables-sync-period
        iptables-localhost-nodeports? masquerade-all? ipvs-exclude-cidrs ipvs-min-sync-period
        ipvs-scheduler ipvs-strict-arp? ipvs-sync-period ipvs-tcp-timeout ipvs-tcpfin-timeout
        ipvs-udp-timeout kube-api-burst kube-api-content-type kube-api-qps config-sync-period
        conntrack-max-per-core conntrack-min conntrack-tcp-timeout-established conntrack-tcp-timeout-close-wait
        conntrack-tcp-be-liberal? conntrack-udp-timeout conntrack-udp-timeout-stream
        feature-gates init-only? show-hidden-metrics-for-version
    """),
}
HAND_DEPRECATED = {'kube-apiserver': {'apiserver-count': 'apiserver-count is deprecated and will be removed in a future version.', 'kubelet-port': 'kubelet-port is deprecated and will be removed.', 'master-service-namespace': 'This flag will be removed in v1.27', 'admission-control': 'Use --enable-admission-plugins or --disable-admission-plugins instead. Will be removed in a future version.'},
    'kube-controller-manager': {'pod-eviction-timeout': 'This flag is deprecated and will be removed.', 'enable-taint-manager': 'This flag is deprecated'},
    'kubelet': {'minimum-container-ttl-duration': 'Use --eviction-hard or --eviction-soft instead. Will be removed in a future version.', 'maximum-dead-containers-per-container': 'Use --eviction-hard or --eviction-soft instead. Will be removed in a future version.', 'maximum-dead-containers': 'Use --eviction-hard or --eviction-soft instead. Will be removed in a future version.', 'register-schedulable': 'will be removed in a future version', 'keep-terminated-pod-volumes': 'will be removed in a future version', 'experimental-mounter-path': 'will be removed in 1.25 or later. in favor of using CSI.', 'experimental-allocatable-ignore-eviction': 'will be removed in 1.25 or later.', 'pod-infra-container-image': 'will be removed in 1.35. Image garbage collector will get sandbox image information from CRI.', 'iptables-masquerade-bit': 'This flag will be removed in a future version.', 'iptables-drop-bit': 'This flag will be removed in a future version.'}}
# Flags a component no longer has and the release that removed them (for the tests and docs).
REMOVED = {
    "kube-apiserver": {"insecure-port": "1.24", "insecure-bind-address": "1.24", "address": "1.24",
                       "port": "1.24", "kubelet-https": "1.22", "target-ram-mb": "1.28"},
    "kubelet": {"container-runtime": "1.27", "network-plugin": "1.24", "docker-endpoint": "1.24",
                "cni-bin-dir": "1.24", "api-servers": "1.6", "require-kubeconfig": "1.10"},
    "kube-controller-manager": {"address": "1.24", "port": "1.24", "deleting-pods-qps": "1.24"},
    "kube-scheduler": {"address": "1.24", "port": "1.24", "algorithm-provider": "1.23", "policy-config-file": "1.23"},
    "kube-proxy": {"resource-container": "1.20"},
}

_CALL = re.compile(r"\.(?P<m>[A-Z][A-Za-z0-9]*)\(")
_KIND = re.compile(r"^(?P<t>Bool|String|StringSlice|StringArray|StringToString|StringToInt|Int|Int8|Int16|Int32|Int64|"
                   r"Uint|Uint8|Uint16|Uint32|Uint64|Float32|Float64|Duration|DurationSlice|IP|IPNet|IPMask|"
                   r"IPSlice|IntSlice|Int32Slice|Int64Slice|BoolSlice|Count|BytesHex|BytesBase64|Func)?"
                   r"(?P<v>Var|VarP|P|VarPF)?$")


def git_show(mirrors: Path, repo: str, tag: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(mirrors / repo / "repo"), "show", f"{tag}:{path}"],
                          check=True, capture_output=True, text=True).stdout


def split_args(text: str, start: int) -> list[str]:
    """Top-level comma-separated arguments of the call whose '(' is at text[start-1]."""
    out, depth, cur, i = [], 0, [], start
    while i < len(text):
        c = text[i]
        if c in "\"`":
            j = text.index(c, i + 1) if c == "`" else _end_string(text, i)
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                out.append("".join(cur).strip())
                return out
            depth -= 1
        elif c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    return out


def _end_string(text: str, i: int) -> int:
    j = i + 1
    while text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return j


def functions(src: str) -> dict[str, str]:
    """'Recv.Name' and 'Name' -> body text, split at top-level func lines."""
    out: dict[str, str] = {}
    parts = re.split(r"(?m)^func ", src)
    for part in parts[1:]:
        m = re.match(r"(?:\(\s*\w+\s+\*?(\w+)\s*\)\s*)?(\w+)", part)
        if m:
            out[f"{m.group(1)}.{m.group(2)}" if m.group(1) else m.group(2)] = part
            out.setdefault(m.group(2), "")
            out[m.group(2)] += part
    return out


def flag_name(arg: str, plugins: tuple[str, ...], consts: dict[str, str] | None = None) -> list[str]:
    if consts and arg in consts:
        return [consts[arg]]
    m = re.fullmatch(r'"([a-z0-9][a-z0-9-]*)"', arg)
    if m:
        return [m.group(1)]
    m = re.fullmatch(r'fmt\.Sprintf\("([a-z0-9-]*%s[a-z0-9-]*)",\s*\w+\)', arg)
    if m:
        return [m.group(1).replace("%s", p) for p in plugins]
    return []


def extract(body: str, consts: dict[str, str]) -> tuple[dict[str, bool], dict[str, str]]:
    flags: dict[str, bool] = {}
    deprecated: dict[str, str] = {}
    plugins = ("log", "webhook")
    for m in _CALL.finditer(body):
        method = m.group("m")
        args = split_args(body, m.end())
        if method in ("MarkDeprecated", "MarkShorthandDeprecated") and len(args) >= 2:
            names = flag_name(args[0], plugins, consts)
            msg = re.findall(r'"((?:[^"\\]|\\.)*)"', args[1])
            for n in names:
                deprecated[n] = "".join(msg)
            continue
        k = _KIND.match(method)
        if not k or not (k.group("t") or k.group("v")) or method in ("P",):
            continue
        position = 1 if (k.group("v") or "").startswith("Var") else 0
        if len(args) <= position:
            continue
        for n in flag_name(args[position], plugins, consts):
            flags[n] = k.group("t") == "Bool"
    return flags, deprecated


def build_table(mirrors: Path) -> dict[str, dict[str, dict[str, object]]]:
    table: dict[str, dict[str, dict[str, object]]] = {}
    for component, sources in SOURCES.items():
        entries: dict[str, dict[str, object]] = {}
        for repo, tag, path, funcs in sources:
            src = git_show(mirrors, repo, tag, path)
            bodies = [src] if funcs is None else [functions(src).get(f, "") for f in funcs]
            consts = dict(re.findall(r'(?m)^\s*(?:const\s+)?(\w+)\s*=\s*"([a-z][a-z0-9-]*)"\s*$', src))
            for body in bodies:
                flags, deprecated = extract(body, consts)
                for name, is_bool in flags.items():
                    entries[name] = {"bool": is_bool, "source": f"{repo.replace('+', '/')}@{tag}:{path}"}
                for name, msg in deprecated.items():
                    if name in entries:
                        entries[name]["deprecated"] = msg
        if component != "etcd":
            for name, is_bool in KLOG.items():
                entries[name] = {"bool": is_bool, "source": "k8s.io/klog/v2 (component-base logs/klogflags)"}
            entries.setdefault("help", {"bool": True, "source": "spf13/cobra"})
            # verflag registers it through its own Version() helper (NoOptDefVal: --version[=raw])
            entries["version"] = {"bool": True, "source": f"kubernetes/component-base@{STAGING}:version/verflag/verflag.go"}
        if component in HAND:
            where, words = HAND[component]
            for word in words.split():
                entries.setdefault(word.rstrip("?"), {"bool": word.endswith("?"),
                                                       "source": f"hand:kubernetes/kubernetes@{K8S}:{where}"})
            for name, msg in HAND_DEPRECATED.get(component, {}).items():
                entries[name]["deprecated"] = msg
        table[component] = entries
    return table


def main() -> int:
    mirrors = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror")
    table = build_table(mirrors)
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"version": K8S, "removed": REMOVED, "components": table,
           "sources": {"staging": STAGING, "etcd": ETCD}}
    (OUT / "v1.32.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    for component, entries in table.items():
        print(f"{component}: {len(entries)} flags")
    return 0


if __name__ == "__main__":
    sys.exit(main())
