include:
  - common

{% set kube = pillar['kube'] %}
# The container runtime is the image's (Fedora: dnf install containerd), not the build's:
# its configuration is written on every minion (kubernetes-the-hard-way's, v1.32), and it is
# kept running where it is installed. Where it is not, the kubelet still gets the endpoint
# (kube.runtime_endpoint) and reports the runtime down in its node status.
/etc/containerd/config.toml:
  file.managed:
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
    - contents: |
        version = 2

        [plugins."io.containerd.grpc.v1.cri"]
          [plugins."io.containerd.grpc.v1.cri".containerd]
            snapshotter = "overlayfs"
            default_runtime_name = "runc"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
            runtime_type = "io.containerd.runc.v2"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            SystemdCgroup = true
        [plugins."io.containerd.grpc.v1.cri".cni]
          bin_dir = "/opt/cni/bin"
          conf_dir = "/etc/cni/net.d"

{% if salt['service.available']('containerd') %}
containerd:
  service.running:
    - enable: True
    - watch:
      - file: /etc/containerd/config.toml
{% endif %}
