base:
  '*':
    - base
    - salt-helpers
  'roles:kubernetes-pool':
    - match: grain
    - kubelet
    - kube-proxy
  'roles:kubernetes-master':
    - match: grain
    - generate-cert
    - etcd
    - kube-apiserver
    - kube-controller-manager
    - kube-scheduler
    - kube-addons
