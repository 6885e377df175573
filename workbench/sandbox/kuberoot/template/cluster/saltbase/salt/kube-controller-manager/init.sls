# kube-controller-manager as a systemd unit with its flags in /etc/sysconfig/kube-controller-manager (the tree's RedHat path).
include:
  - systemd-reload

/usr/local/bin/kube-controller-manager:
  file.managed:
    - source: salt://kube-bins/kube-controller-manager
    - user: root
    - group: root
    - mode: 755

/etc/sysconfig/kube-controller-manager:
  file.managed:
    - source: salt://kube-controller-manager/default
    - template: jinja
    - user: root
    - group: root
    - mode: 644
    - makedirs: True

/usr/lib/systemd/system/kube-controller-manager.service:
  file.managed:
    - source: salt://kube-controller-manager/kube-controller-manager.service
    - user: root
    - group: root
    - mode: 644
    - makedirs: True
    - onchanges_in:
      - cmd: systemd-reload

kube-controller-manager:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /usr/local/bin/kube-controller-manager
      - file: /etc/sysconfig/kube-controller-manager
      - file: /usr/lib/systemd/system/kube-controller-manager.service
