/usr/local/bin/salt-helpers:
  file.directory:
    - makedirs: True
