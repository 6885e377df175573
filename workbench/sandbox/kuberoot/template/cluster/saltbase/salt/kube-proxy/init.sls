# kube-proxy as a systemd unit with its flags in /etc/sysconfig/kube-proxy (the tree's RedHat path).
include:
  - systemd-reload

# written by the provisioning (salt-overlay), as kube-up's provision-minion.sh did
/var/lib/kube-proxy/kubeconfig:
  file.managed:
    - source: salt://kube-proxy/kubeconfig
    - user: root
    - group: root
    - mode: 400
    - makedirs: True
    - show_changes: False

/usr/local/bin/kube-proxy:
  file.managed:
    - source: salt://kube-bins/kube-proxy
    - user: root
    - group: root
    - mode: 755

/etc/sysconfig/kube-proxy:
  file.managed:
    - source: salt://kube-proxy/default
    - template: jinja
    - user: root
    - group: root
    - mode: 644
    - makedirs: True

/usr/lib/systemd/system/kube-proxy.service:
  file.managed:
    - source: salt://kube-proxy/kube-proxy.service
    - user: root
    - group: root
    - mode: 644
    - makedirs: True
    - onchanges_in:
      - cmd: systemd-reload

kube-proxy:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /usr/local/bin/kube-proxy
      - file: /etc/sysconfig/kube-proxy
      - file: /usr/lib/systemd/system/kube-proxy.service
      - file: /var/lib/kube-proxy/kubeconfig
