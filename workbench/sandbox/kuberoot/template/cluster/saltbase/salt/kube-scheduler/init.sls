# kube-scheduler as a systemd unit with its flags in /etc/sysconfig/kube-scheduler (the tree's RedHat path).
include:
  - systemd-reload

/usr/local/bin/kube-scheduler:
  file.managed:
    - source: salt://kube-bins/kube-scheduler
    - user: root
    - group: root
    - mode: 755

/etc/sysconfig/kube-scheduler:
  file.managed:
    - source: salt://kube-scheduler/default
    - template: jinja
    - user: root
    - group: root
    - mode: 644
    - makedirs: True

/usr/lib/systemd/system/kube-scheduler.service:
  file.managed:
    - source: salt://kube-scheduler/kube-scheduler.service
    - user: root
    - group: root
    - mode: 644
    - makedirs: True
    - onchanges_in:
      - cmd: systemd-reload

kube-scheduler:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /usr/local/bin/kube-scheduler
      - file: /etc/sysconfig/kube-scheduler
      - file: /usr/lib/systemd/system/kube-scheduler.service
