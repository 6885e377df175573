"""The embedded sandbox cloud: OpenStack APIs over HTTP and SSH-reachable nodes, all on
127.0.0.0/8. The engine never imports this package; it reaches the sandbox the way it
reaches a real cloud, through clouds.yaml and a profile."""
