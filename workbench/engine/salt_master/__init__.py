"""Salt master mode: salt-master on the Kubernetes master, a salt-minion on every node,
state runs as master jobs streamed from its event bus over one SSH connection.

``place`` (where Salt lives on a node), ``config`` (drop-ins, written idempotently),
``keys`` (minion keys accepted only when read from the minion itself), ``job_events``
(the event bus's lines), ``jobs`` (``MasterSaltRunner``), ``doctor`` (master-mode checks),
``mode`` (masterless or master, from the profile and the cluster's size).
"""
