/srv/kubernetes/known_tokens.csv:
  file.managed:
    - source: salt://kube-apiserver/known_tokens.csv
    - template: jinja
    - user: root
    - group: root
    - mode: 600
    - makedirs: true

/usr/local/bin/kube-apiserver:
  file.managed:
    - source: salt://kube-bins/kube-apiserver
    - user: root
    - group: root
    - mode: 755

kube-apiserver:
  service.running:
    - enable: True
    - watch:
      - file: /srv/kubernetes/known_tokens.csv
      - file: /usr/local/bin/kube-apiserver
