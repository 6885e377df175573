# kube-apiserver as a systemd unit with its flags in /etc/sysconfig/kube-apiserver (the tree's RedHat path).
include:
  - systemd-reload

# written by the provisioning (salt-overlay), as kube-up's provision-master.sh did
/srv/kubernetes/known_tokens.csv:
  file.managed:
    - source: salt://kube-apiserver/known_tokens.csv
    - user: root
    - group: root
    - mode: 600
    - makedirs: True
    - show_changes: False

/usr/local/bin/kube-apiserver:
  file.managed:
    - source: salt://kube-bins/kube-apiserver
    - user: root
    - group: root
    - mode: 755

/etc/sysconfig/kube-apiserver:
  file.managed:
    - source: salt://kube-apiserver/default
    - template: jinja
    - user: root
    - group: root
    - mode: 644
    - makedirs: True

/usr/lib/systemd/system/kube-apiserver.service:
  file.managed:
    - source: salt://kube-apiserver/kube-apiserver.service
    - user: root
    - group: root
    - mode: 644
    - makedirs: True
    - onchanges_in:
      - cmd: systemd-reload

kube-apiserver:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /usr/local/bin/kube-apiserver
      - file: /etc/sysconfig/kube-apiserver
      - file: /usr/lib/systemd/system/kube-apiserver.service
      - file: /srv/kubernetes/known_tokens.csv
