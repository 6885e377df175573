{% import 'common/macros.jinja' as m with context %}
{% set kube = pillar['kube'] %}
include:
  - common
  - kube-bins
  - systemd-reload

# etcd for the API server alone: on the master, on loopback, as kubernetes-the-hard-way
# (v1.32) runs it. The program is the server tar's if it has one, else etcd's own release
# tar pushed beside it, else the distribution's package (Kubernetes' tars carry no etcd).
{% set etcd = kube['etcd'] %}
{% if etcd['source'] == 'package' %}
etcd-program:
  pkg.installed:
    - name: etcd
{% set etcd_bin = '/usr/bin/etcd' %}
{% else %}
{% set etcd_bin = kube['bins']['install_dir'] ~ '/etcd' %}
{% endif %}
{% if etcd['source'] == 'tar' %}
# etcd's own release tar, pushed beside Kubernetes' (etcd-v<version>-linux-amd64/etcd)
etcd-unpacked:
  cmd.run:
    - name: >-
        rm -rf {{ etcd.dir }}.new && mkdir -p {{ etcd.dir }}.new &&
        tar -xzf {{ etcd.tar }} -C {{ etcd.dir }}.new --strip-components=1 {{ etcd.prefix }}/etcd &&
        stat -c '%s %Y' {{ etcd.tar }} > {{ etcd.dir }}.new/.from-tar &&
        rm -rf {{ etcd.dir }} && mv {{ etcd.dir }}.new {{ etcd.dir }}
    - unless: test "$(stat -c '%s %Y' {{ etcd.tar }})" = "$(cat {{ etcd.dir }}/.from-tar 2>/dev/null)"

kube-bin-etcd:
  file.managed:
    - name: {{ etcd_bin }}
    - source: {{ etcd.dir }}/etcd
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
    - show_changes: False
    - require:
      - cmd: etcd-unpacked
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
          '--listen-client-urls=http://' ~ kube['local_address'] ~ ':2379',
          '--advertise-client-urls=http://' ~ kube['local_address'] ~ ':2379',
          '--listen-peer-urls=http://' ~ kube['local_address'] ~ ':2380',
          '--initial-advertise-peer-urls=http://' ~ kube['local_address'] ~ ':2380',
          '--initial-cluster=' ~ kube['master_name'] ~ '=http://' ~ kube['local_address'] ~ ':2380',
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
{% if etcd['source'] == 'package' %}
      - pkg: etcd-program
{% else %}
      - file: kube-bin-etcd
{% endif %}
