{% import 'common/macros.jinja' as m with context %}
{% set kube = pillar['kube'] %}
{% set pki = '/etc/kubernetes/pki' %}
include:
  - common
  - kube-bins
  - systemd-reload

# Flags: kubeadm's control-plane manifest (cmd/kubeadm/app/phases/controlplane/manifests.go,
# v1.32) and kubernetes-the-hard-way's unit (v1.32.3); etcd over loopback as the latter.
{{ m.keypair(pki ~ '/apiserver', 'apiserver') }}
{{ m.keypair(pki ~ '/apiserver-kubelet-client', 'apiserver_kubelet_client') }}

{{ pki }}/sa.key:
  file.managed:
    - contents_pillar: kube_pki:sa_key
    - mode: '0600'
    - show_changes: False

{{ pki }}/sa.pub:
  file.managed:
    - contents_pillar: kube_pki:sa_pub
    - mode: '0644'

/etc/systemd/system/kube-apiserver.service:
  file.managed:
    - user: root
    - group: root
    - mode: '0644'
    - onchanges_in:
      - cmd: systemd-reload
    - contents: |
        [Unit]
        Description=Kubernetes API Server
        Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/
        After=etcd.service
        Wants=etcd.service

        [Service]
        ExecStart={{ kube['bins']['install_dir'] }}/kube-apiserver{{ m.flags('kube-apiserver', [
          '--advertise-address=' ~ kube['node_ip'],
          '--bind-address=' ~ kube['any_address'],
          '--secure-port=6443',
          '--allow-privileged=true',
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          '--client-ca-file=' ~ pki ~ '/ca.crt',
          '--tls-cert-file=' ~ pki ~ '/apiserver.crt',
          '--tls-private-key-file=' ~ pki ~ '/apiserver.key',
          '--kubelet-client-certificate=' ~ pki ~ '/apiserver-kubelet-client.crt',
          '--kubelet-client-key=' ~ pki ~ '/apiserver-kubelet-client.key',
          '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
          '--etcd-servers=http://' ~ kube['local_address'] ~ ':2379',
          '--service-cluster-ip-range=' ~ kube['service_cidr'],
          '--service-account-issuer=https://kubernetes.default.svc.' ~ kube['dns_domain'],
          '--service-account-key-file=' ~ pki ~ '/sa.pub',
          '--service-account-signing-key-file=' ~ pki ~ '/sa.key',
          '--service-node-port-range=30000-32767',
        ]) | indent(8) }}
        Restart=on-failure
        RestartSec=5

        [Install]
        WantedBy=multi-user.target

kube-apiserver:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
      - service: etcd
    - watch:
      - file: /etc/systemd/system/kube-apiserver.service
      - file: kube-bin-kube-apiserver
      - file: /etc/kubernetes/pki/ca.crt
      - file: {{ pki }}/apiserver.crt
      - file: {{ pki }}/apiserver.key
      - file: {{ pki }}/apiserver-kubelet-client.crt
      - file: {{ pki }}/sa.pub
      - file: {{ pki }}/sa.key

# The workbench's admin credential stays on the master (kubectl there), never on a minion.
{{ m.keypair(pki ~ '/admin', 'admin') }}
{{ m.kubeconfig('/etc/kubernetes/admin.kubeconfig', 'admin', pki ~ '/admin.crt', pki ~ '/admin.key', 'https://' ~ kube['local_address'] ~ ':6443') }}
