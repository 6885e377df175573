pkg-core:
  pkg.installed:
    - names:
      - curl
      - python3
      - git

/usr/local/share/doc/kubernetes:
  file.directory:
    - user: root
    - group: root
    - makedirs: True
