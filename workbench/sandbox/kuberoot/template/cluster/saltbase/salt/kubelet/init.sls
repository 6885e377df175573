# kubelet as a systemd unit with its flags in /etc/sysconfig/kubelet (the tree's RedHat path).
include:
  - systemd-reload

# written by the provisioning (salt-overlay), as kube-up's provision-minion.sh did
/var/lib/kubelet/kubeconfig:
  file.managed:
    - source: salt://kubelet/kubeconfig
    - user: root
    - group: root
    - mode: 400
    - makedirs: True
    - show_changes: False

/etc/kubernetes/manifests:
  file.directory:
    - user: root
    - group: root
    - mode: 755
    - makedirs: True

/usr/local/bin/kubelet:
  file.managed:
    - source: salt://kube-bins/kubelet
    - user: root
    - group: root
    - mode: 755

/etc/sysconfig/kubelet:
  file.managed:
    - source: salt://kubelet/default
    - template: jinja
    - user: root
    - group: root
    - mode: 644
    - makedirs: True

/usr/lib/systemd/system/kubelet.service:
  file.managed:
    - source: salt://kubelet/kubelet.service
    - user: root
    - group: root
    - mode: 644
    - makedirs: True
    - onchanges_in:
      - cmd: systemd-reload

kubelet:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /usr/local/bin/kubelet
      - file: /etc/sysconfig/kubelet
      - file: /usr/lib/systemd/system/kubelet.service
      - file: /var/lib/kubelet/kubeconfig
