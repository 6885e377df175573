{% import 'common/macros.jinja' as m with context %}
{% set kube = pillar['kube'] %}
# etcd for the API server alone: on the master, on loopback, as kubernetes-the-hard-way
# (v1.32) runs it. The program is the build's when its server tar has one; otherwise the
# distribution's package (Kubernetes' release tars do not carry etcd).
{% if kube['etcd']['source'] == 'package' %}
etcd-program:
  pkg.installed:
    - name: etcd
{% set etcd_bin = '/usr/bin/etcd' %}
{% else %}
{% set etcd_bin = kube['bins']['install_dir'] ~ '/etcd' %}
{% endif %}

/var/lib/etcd:
  file.directory:
    - user: root
    - group: root
    - mode: '0700'

/etc/systemd/system/etcd.service:
  file.managed:
    - user: root
    - group: root
    - mode: '0644'
    - onchanges_in:
      - cmd: systemd-reload
    - contents: |
        [Unit]
        Description=etcd for the Kubernetes API server
        Documentation=https://etcd.io/docs/
        After=network-online.target

        [Service]
        ExecStart={{ etcd_bin }}{{ m.flags('etcd', [
          '--name=' ~ kube['master_name'],
          '--data-dir=/var/lib/etcd',
          '--listen-client-urls=http://127.0.0.1:2379',
          '--advertise-client-urls=http://127.0.0.1:2379',
          '--listen-peer-urls=http://127.0.0.1:2380',
          '--initial-advertise-peer-urls=http://127.0.0.1:2380',
          '--initial-cluster=' ~ kube['master_name'] ~ '=http://127.0.0.1:2380',
          '--initial-cluster-token=etcd-' ~ kube['cluster_name'],
          '--initial-cluster-state=new',
        ]) | indent(8) }}
        Restart=on-failure
        RestartSec=5

        [Install]
        WantedBy=multi-user.target

etcd:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
      - file: /var/lib/etcd
    - watch:
      - file: /etc/systemd/system/etcd.service
{% if kube['etcd']['source'] == 'package' %}
      - pkg: etcd-program
{% else %}
      - file: kube-bin-etcd
{% endif %}
