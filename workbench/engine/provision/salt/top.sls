# The workbench's own Salt tree for current Kubernetes (1.30-1.33), used when KUBE_ROOT has
# no cluster/saltbase. Grains (role, addresses) and pillar (cluster parameters, certificates)
# are written by the workbench before each run; binaries come from the pushed release tars.
base:
  'roles:kubernetes-master':
    - match: grain
    - common
    - kube-bins
    - etcd
    - kube-apiserver
    - kube-controller-manager
    - kube-scheduler
    - coredns
  'roles:kubernetes-pool':
    - match: grain
    - common
    - kube-bins
    - containerd
    - pod-network
    - kubelet
    - kube-proxy
