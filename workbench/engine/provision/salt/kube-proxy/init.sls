{% import 'common/macros.jinja' as m with context %}
{% set kube = pillar['kube'] %}
{% set pki = '/var/lib/kube-proxy/pki' %}
include:
  - common
  - kube-bins
  - systemd-reload

# A KubeProxyConfiguration as kubernetes-the-hard-way (v1.32), with this node's name.
{{ m.keypair(pki ~ '/kube-proxy', 'kube_proxy') }}
{{ m.kubeconfig('/var/lib/kube-proxy/kubeconfig', 'system:kube-proxy', pki ~ '/kube-proxy.crt', pki ~ '/kube-proxy.key', 'https://' ~ kube['master_ip'] ~ ':6443') }}

/var/lib/kube-proxy/kube-proxy-config.yaml:
  file.managed:
    - mode: '0644'
    - makedirs: True
    - contents: |
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        kind: KubeProxyConfiguration
        clientConnection:
          kubeconfig: /var/lib/kube-proxy/kubeconfig
        hostnameOverride: {{ kube['node_name'] }}
        mode: iptables
        healthzBindAddress: {{ kube['any_address'] }}:10256
        metricsBindAddress: {{ kube['local_address'] }}:10249
        clusterCIDR: {{ kube['pod_cidr'] }}

/etc/systemd/system/kube-proxy.service:
  file.managed:
    - mode: '0644'
    - onchanges_in:
      - cmd: systemd-reload
    - contents: |
        [Unit]
        Description=Kubernetes Kube Proxy
        Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kube-proxy/

        [Service]
        ExecStart={{ kube['bins']['install_dir'] }}/kube-proxy{{ m.flags('kube-proxy', [
          '--config=/var/lib/kube-proxy/kube-proxy-config.yaml',
        ]) | indent(8) }}
        Restart=on-failure
        RestartSec=5

        [Install]
        WantedBy=multi-user.target

kube-proxy:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /etc/systemd/system/kube-proxy.service
      - file: kube-bin-kube-proxy
      - file: /var/lib/kube-proxy/kube-proxy-config.yaml
      - file: /var/lib/kube-proxy/kubeconfig
      - file: {{ pki }}/kube-proxy.crt
      - file: {{ pki }}/kube-proxy.key
