/usr/local/bin/kube-controller-manager:
  file.managed:
    - source: salt://kube-bins/kube-controller-manager
    - user: root
    - group: root
    - mode: 755
