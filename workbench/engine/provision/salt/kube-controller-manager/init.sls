{% import 'common/macros.jinja' as m with context %}
{% set kube = pillar['kube'] %}
{% set pki = '/etc/kubernetes/pki' %}
{% set conf = '/etc/kubernetes/controller-manager.kubeconfig' %}
include:
  - common
  - kube-bins
  - systemd-reload

# Flags: kubeadm's manifest (v1.32) without bootstrap tokens or a front proxy; pod
# subnets are the workbench's per node (no --allocate-node-cidrs), as in kubernetes-the-hard-way.
{{ m.keypair(pki ~ '/controller-manager', 'controller_manager') }}
{{ m.kubeconfig(conf, 'system:kube-controller-manager', pki ~ '/controller-manager.crt', pki ~ '/controller-manager.key', 'https://' ~ kube['local_address'] ~ ':6443') }}

{{ pki }}/ca.key:
  file.managed:
    - contents_pillar: kube_pki:ca_key
    - mode: '0600'
    - show_changes: False

/etc/systemd/system/kube-controller-manager.service:
  file.managed:
    - user: root
    - group: root
    - mode: '0644'
    - onchanges_in:
      - cmd: systemd-reload
    - contents: |
        [Unit]
        Description=Kubernetes Controller Manager
        Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kube-controller-manager/
        After=kube-apiserver.service

        [Service]
        ExecStart={{ kube['bins']['install_dir'] }}/kube-controller-manager{{ m.flags('kube-controller-manager', [
          '--bind-address=' ~ kube['local_address'],
          '--kubeconfig=' ~ conf,
          '--authentication-kubeconfig=' ~ conf,
          '--authorization-kubeconfig=' ~ conf,
          '--client-ca-file=' ~ pki ~ '/ca.crt',
          '--cluster-name=' ~ kube['cluster_name'],
          '--cluster-cidr=' ~ kube['pod_cidr'],
          '--service-cluster-ip-range=' ~ kube['service_cidr'],
          '--cluster-signing-cert-file=' ~ pki ~ '/ca.crt',
          '--cluster-signing-key-file=' ~ pki ~ '/ca.key',
          '--root-ca-file=' ~ pki ~ '/ca.crt',
          '--service-account-private-key-file=' ~ pki ~ '/sa.key',
          '--use-service-account-credentials=true',
          '--leader-elect=true',
        ]) | indent(8) }}
        Restart=on-failure
        RestartSec=5

        [Install]
        WantedBy=multi-user.target

kube-controller-manager:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
      - service: kube-apiserver
    - watch:
      - file: /etc/systemd/system/kube-controller-manager.service
      - file: kube-bin-kube-controller-manager
      - file: {{ conf }}
      - file: {{ pki }}/controller-manager.crt
      - file: {{ pki }}/controller-manager.key
      - file: {{ pki }}/ca.key
