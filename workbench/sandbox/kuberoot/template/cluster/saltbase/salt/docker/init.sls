docker:
  pkg.installed: []
  service.running:
    - enable: True
    - require:
      - pkg: docker
