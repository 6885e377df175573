{% set kube = pillar['kube'] %}
# Directories and the cluster CA every node trusts.
/etc/kubernetes/pki:
  file.directory:
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

/etc/kubernetes/pki/ca.crt:
  file.managed:
    - contents_pillar: kube_pki:ca_crt
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: /etc/kubernetes/pki
