{% set kube = pillar['kube'] %}
{% set bins = kube['bins'] %}
# The programs of the build that was pushed: unpacked from its release tar (again only when
# the tar changed), installed by content, so a service restarts only when its binary did.
kube-bins-unpacked:
  cmd.run:
    - name: >-
        rm -rf {{ bins.dir }}.new && mkdir -p {{ bins.dir }}.new &&
        tar -xzf {{ bins.tar }} -C {{ bins.dir }}.new --strip-components={{ bins.prefix.split('/') | length }} {{ bins.prefix }} &&
        stat -c '%s %Y' {{ bins.tar }} > {{ bins.dir }}.new/.from-tar &&
        rm -rf {{ bins.dir }} && mv {{ bins.dir }}.new {{ bins.dir }}
    - unless: test "$(stat -c '%s %Y' {{ bins.tar }})" = "$(cat {{ bins.dir }}/.from-tar 2>/dev/null)"

{% for program in kube['programs'] %}
kube-bin-{{ program }}:
  file.managed:
    - name: {{ bins.install_dir }}/{{ program }}
    - source: {{ bins.dir }}/{{ program }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
    - show_changes: False
    - require:
      - cmd: kube-bins-unpacked
{% endfor %}
