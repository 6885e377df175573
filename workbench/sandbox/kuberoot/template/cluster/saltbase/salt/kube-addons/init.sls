/etc/kubernetes/addons:
  file.directory:
    - user: root
    - group: root
    - mode: 755
    - makedirs: True

{% for addon in ['cluster-monitoring', 'dns', 'kube-ui'] %}
/etc/kubernetes/addons/{{ addon }}:
  file.recurse:
    - source: salt://kube-addons/{{ addon }}
    - include_pat: E@^.+\.yaml$
{% endfor %}
