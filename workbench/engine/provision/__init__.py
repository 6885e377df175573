"""Provisioning: what kube-up's scripts did before Salt ran, done from the workstation.

``tree`` picks the Salt tree a push sends (kube-up's ``cluster/saltbase/salt`` while
KUBE_ROOT has one, else ``salt/`` here, for Kubernetes 1.30-1.33); ``build_info`` reads the
build's version; ``cluster`` and ``pki`` make the cluster's parameters and certificates;
``bundle`` computes each node's minion config, grains and pillar; ``apply`` puts them in
place over SSH; ``run.provision`` does it all for the salt stage.
"""
