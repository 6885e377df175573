{% import 'common/macros.jinja' as m with context %}
{% set kube = pillar['kube'] %}
{% set pki = '/var/lib/kubelet/pki' %}
include:
  - common
  - kube-bins
  - systemd-reload

# A KubeletConfiguration as kubernetes-the-hard-way (v1.32) writes it, with the cluster's
# DNS and runtime endpoint; flags only for what has no config field (kubelet --help, v1.32).
{{ m.keypair(pki ~ '/kubelet-client', 'kubelet') }}
{{ m.kubeconfig('/var/lib/kubelet/kubeconfig', 'system:node:' ~ kube['node_name'], pki ~ '/kubelet-client.crt', pki ~ '/kubelet-client.key', 'https://' ~ kube['master_ip'] ~ ':6443') }}

/var/lib/kubelet/kubelet-config.yaml:
  file.managed:
    - mode: '0644'
    - makedirs: True
    - contents: |
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        address: {{ kube['any_address'] }}
        healthzBindAddress: {{ kube['local_address'] }}
        port: 10250
        authentication:
          anonymous:
            enabled: false
          webhook:
            enabled: true
          x509:
            clientCAFile: /etc/kubernetes/pki/ca.crt
        authorization:
          mode: Webhook
        cgroupDriver: systemd
        clusterDNS:
          - {{ kube['dns_ip'] }}
        clusterDomain: {{ kube['dns_domain'] }}
        containerRuntimeEndpoint: {{ kube['runtime_endpoint'] }}
        failSwapOn: false
        registerNode: true
        resolvConf: /etc/resolv.conf
        runtimeRequestTimeout: 15m

/etc/systemd/system/kubelet.service:
  file.managed:
    - mode: '0644'
    - onchanges_in:
      - cmd: systemd-reload
    - contents: |
        [Unit]
        Description=Kubernetes Kubelet
        Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/
        After=containerd.service

        [Service]
        ExecStart={{ kube['bins']['install_dir'] }}/kubelet{{ m.flags('kubelet', [
          '--config=/var/lib/kubelet/kubelet-config.yaml',
          '--kubeconfig=/var/lib/kubelet/kubeconfig',
          '--hostname-override=' ~ kube['node_name'],
          '--node-ip=' ~ kube['node_ip'],
        ]) | indent(8) }}
        Restart=on-failure
        RestartSec=5

        [Install]
        WantedBy=multi-user.target

kubelet:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /etc/systemd/system/kubelet.service
      - file: kube-bin-kubelet
      - file: /var/lib/kubelet/kubelet-config.yaml
      - file: /var/lib/kubelet/kubeconfig
      - file: /etc/kubernetes/pki/ca.crt
      - file: {{ pki }}/kubelet-client.crt
      - file: {{ pki }}/kubelet-client.key
