/usr/local/bin/kube-scheduler:
  file.managed:
    - source: salt://kube-bins/kube-scheduler
    - user: root
    - group: root
    - mode: 755
