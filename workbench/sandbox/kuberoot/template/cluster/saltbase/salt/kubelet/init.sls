/usr/local/bin/kubelet:
  file.managed:
    - source: salt://kube-bins/kubelet
    - user: root
    - group: root
    - mode: 755

/var/lib/kubelet/kubeconfig:
  file.managed:
    - source: salt://kubelet/kubeconfig
    - template: jinja
    - user: root
    - group: root
    - mode: 400
    - makedirs: true

kubelet:
  service.running:
    - enable: True
    - watch:
      - file: /usr/local/bin/kubelet
      - file: /var/lib/kubelet/kubeconfig
