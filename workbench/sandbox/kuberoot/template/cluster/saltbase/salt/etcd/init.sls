# etcd as a systemd unit with its flags in /etc/sysconfig/etcd (the tree's RedHat path).
include:
  - systemd-reload

/var/etcd:
  file.directory:
    - user: root
    - group: root
    - dir_mode: 700
    - makedirs: True

/usr/local/bin/etcd:
  file.managed:
    - source: salt://etcd-bins/etcd
    - user: root
    - group: root
    - mode: 755

/etc/sysconfig/etcd:
  file.managed:
    - source: salt://etcd/default
    - template: jinja
    - user: root
    - group: root
    - mode: 644
    - makedirs: True

/usr/lib/systemd/system/etcd.service:
  file.managed:
    - source: salt://etcd/etcd.service
    - user: root
    - group: root
    - mode: 644
    - makedirs: True
    - onchanges_in:
      - cmd: systemd-reload

etcd:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /usr/local/bin/etcd
      - file: /etc/sysconfig/etcd
      - file: /usr/lib/systemd/system/etcd.service
      - file: /var/etcd
