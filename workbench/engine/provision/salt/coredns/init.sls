include:
  - common
  - kube-apiserver

{% set kube = pillar['kube'] %}
# Cluster DNS: CoreDNS as kubeadm deploys it (its addon manifest and image tag per minor,
# cmd/kubeadm/app/constants). The image is pulled by each node's runtime from
# registry.k8s.io: the one thing not from the build. Off with [kube] addons = [].
{% if 'coredns' in kube.get('addons', []) %}
/etc/kubernetes/addons/coredns.yaml:
  file.managed:
    - source: salt://coredns/coredns.yaml
    - template: jinja
    - makedirs: True
    - mode: '0644'

coredns-applied:
  cmd.run:
    - name: {{ kube['bins']['install_dir'] }}/kubectl --kubeconfig=/etc/kubernetes/admin.kubeconfig apply -f /etc/kubernetes/addons/coredns.yaml
    - onchanges:
      - file: /etc/kubernetes/addons/coredns.yaml
    - require:
      - service: kube-apiserver
      - file: /etc/kubernetes/admin.kubeconfig
    - retry:
        attempts: 10
        interval: 3
{% endif %}
