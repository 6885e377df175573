{% set kube = pillar['kube'] %}
# kube.pod_network "bridge": each node's pods on its own /24 (kube.node_pod_cidr) behind a
# CNI bridge, and a route to every other node's /24 via that node (kubernetes-the-hard-way's
# pod network routes). The CNI plugins (bridge, host-local, loopback) are the image's.
{% if kube['pod_network'] == 'bridge' %}
include:
  - systemd-reload

/etc/cni/net.d/10-bridge.conf:
  file.managed:
    - makedirs: True
    - mode: '0644'
    - contents: |
        {
          "cniVersion": "1.0.0",
          "name": "bridge",
          "type": "bridge",
          "bridge": "cni0",
          "isGateway": true,
          "ipMasq": true,
          "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": "{{ kube['node_pod_cidr'] }}"}]],
            "routes": [{"dst": "0.0.0.0/0"}]
          }
        }

/etc/cni/net.d/99-loopback.conf:
  file.managed:
    - makedirs: True
    - mode: '0644'
    - contents: |
        {"cniVersion": "1.1.0", "name": "lo", "type": "loopback"}

/etc/systemd/system/pod-routes.service:
  file.managed:
    - mode: '0644'
    - onchanges_in:
      - cmd: systemd-reload
    - contents: |
        [Unit]
        Description=Routes to the other nodes' pod networks
        After=network-online.target

        [Service]
        Type=oneshot
        RemainAfterExit=yes
{%- for node in kube['nodes'] if node['name'] != kube['node_name'] %}
        ExecStart=/usr/sbin/ip route replace {{ node['pod_cidr'] }} via {{ node['ip'] }}
{%- endfor %}
        ExecStart=/bin/true

        [Install]
        WantedBy=multi-user.target

pod-routes:
  service.running:
    - enable: True
    - require:
      - cmd: systemd-reload
    - watch:
      - file: /etc/systemd/system/pod-routes.service
{% endif %}
