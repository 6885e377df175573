{% import 'common/macros.jinja' as m with context %}
{% set kube = pillar['kube'] %}
{% set pki = '/etc/kubernetes/pki' %}
{% set conf = '/etc/kubernetes/scheduler.kubeconfig' %}
include:
  - common
  - kube-bins
  - systemd-reload

# Flags: kubeadm's manifest (v1.32); the KubeSchedulerConfiguration as kubernetes-the-hard-way.
{{ m.keypair(pki ~ '/scheduler', 'scheduler') }}
{{ m.kubeconfig(conf, 'system:kube-scheduler', pki ~ '/scheduler.crt', pki ~ '/scheduler.key', 'https://' ~ kube['local_address'] ~ ':6443') }}

/etc/kubernetes/kube-scheduler.yaml:
  file.managed:
    - mode: '0644'
    - contents: |
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        clientConnection:
          kubeconfig: {{ conf }}
        leaderElection:
          leaderElect: true

/etc/systemd/system/kube-scheduler.service:
  file.managed:
    - user: root
    - group: root
    - mode: '0644'
    - onchanges_in:
      - cmd: systemd-reload
    - contents: |
        [Unit]
        Description=Kubernetes Scheduler
        Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kube-scheduler/
        After=kube-apiserver.service

        [Service]
        ExecStart={{ kube['bins']['install_dir'] }}/kube-scheduler{{ m.flags('kube-scheduler', [
          '--config=/etc/kubernetes/kube-scheduler.yaml',
          '--bind-address=' ~ kube['local_address'],
          '--authentication-kubeconfig=' ~ conf,
          '--authorization-kubeconfig=' ~ conf,
        ]) | indent(8) }}
        Restart=on-failure
        RestartSec=5

        [Install]
        WantedBy=multi-user.target

kube-scheduler:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
      - service: kube-apiserver
    - watch:
      - file: /etc/systemd/system/kube-scheduler.service
      - file: kube-bin-kube-scheduler
      - file: /etc/kubernetes/kube-scheduler.yaml
      - file: {{ conf }}
      - file: {{ pki }}/scheduler.crt
      - file: {{ pki }}/scheduler.key
