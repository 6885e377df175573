# The cluster CA and the API server's certificate, made once on the master by
# make-ca-cert.sh (cert_ip and extra SANs from grains, as kube-up's tree did).
{% set cert_ip = grains.get('publicAddressOverride', grains.get('master_ip', '127.0.0.1')) %}
{% set extra_sans = grains.get('master_extra_sans', '') %}
kube-cert:
  group.present:
    - system: True

/srv/kubernetes:
  file.directory:
    - user: root
    - group: root
    - mode: 755
    - makedirs: True

kubernetes-cert:
  cmd.script:
    - unless: test -f /srv/kubernetes/server.cert
    - source: salt://generate-cert/make-ca-cert.sh
    - args: {{ cert_ip }} {{ extra_sans }}
    - cwd: /
    - shell: /bin/bash
    - require:
      - group: kube-cert
      - file: /srv/kubernetes
