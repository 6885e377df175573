"""Salt output parsing on text in Salt's own formats (highstate outputter and --out=json)."""

from __future__ import annotations

import json

from workbench.engine.salt.runner import parse_highstate_text, parse_json_output, parse_output

# `salt-call --local state.highstate` on a Fedora minion (Salt 2015.8), colour off.
HIGHSTATE = """\
[WARNING ] /usr/lib/python2.7/site-packages/salt/grains/core.py:1493: DeprecationWarning: ...
local:
----------
          ID: pkg-core
    Function: pkg.installed
      Result: True
     Comment: All specified packages are already installed
     Started: 10:02:11.402412
    Duration: 1271.114 ms
     Changes:
----------
          ID: /usr/local/bin/kubelet
    Function: file.managed
      Result: True
     Comment: File /usr/local/bin/kubelet updated
     Started: 10:02:12.680011
    Duration: 412.87 ms
     Changes:
              ----------
              diff:
                  Replace binary file
              mode:
                  0755
----------
          ID: /var/lib/kubelet/kubeconfig
    Function: file.managed
      Result: False
     Comment: Unable to manage file: Jinja variable 'dict object' has no attribute 'kubelet_token'
              while rendering /srv/salt/kubelet/kubeconfig
     Started: 10:02:13.101223
    Duration: 22.4 ms
     Changes:
----------
          ID: kubelet
    Function: service.running
        Name: kubelet
      Result: False
     Comment: One or more requisite failed: kubelet./var/lib/kubelet/kubeconfig
     Changes:

Summary for local
------------
Succeeded: 2 (changed=1)
Failed:    2
------------
Total states run:     4
Total run time:   1.706 s
""".replace("Changes:\n", "Changes:   \n")  # Salt pads the label with trailing spaces

COMPILE_ERROR = """\
local:
    Data failed to compile:
----------
    No matching sls found for 'kube-proxy' in env 'base'
"""

JSON_OUT = """\
[ERROR   ] The Salt Minion service is not running
{
    "local": {
        "service_|-salt-minion_|-salt-minion_|-running": {
            "result": true, "comment": "The service salt-minion is already running",
            "name": "salt-minion", "__id__": "salt-minion", "changes": {}, "__run_num__": 0,
            "start_time": "10:02:11.402412", "duration": 12.5
        },
        "file_|-kubeconfig_|-/var/lib/kubelet/kubeconfig_|-managed": {
            "result": false, "comment": ["Unable to manage file:", "no such file"],
            "name": "/var/lib/kubelet/kubeconfig", "__id__": "kubeconfig",
            "changes": {}, "__run_num__": 1, "duration": 3
        }
    }
}
"""


def test_highstate_text_gives_every_state_with_multiline_comments() -> None:
    states = parse_highstate_text(HIGHSTATE)
    assert [(s.id, s.function, s.result) for s in states] == [
        ("pkg-core", "pkg.installed", True),
        ("/usr/local/bin/kubelet", "file.managed", True),
        ("/var/lib/kubelet/kubeconfig", "file.managed", False),
        ("kubelet", "service.running", False),
    ]
    assert states[0].duration_ms == 1271.114 and not states[0].changed
    assert states[1].changed and not states[2].changed
    assert states[2].comment.endswith("while rendering /srv/salt/kubelet/kubeconfig")
    assert states[3].name == "kubelet" and states[3].duration_ms == 0.0
    assert states[2].name == "/var/lib/kubelet/kubeconfig"  # no Name line: the ID


def test_compile_errors_are_failed_states() -> None:
    states = parse_output(COMPILE_ERROR)
    assert len(states) == 1 and states[0].result is False
    assert "No matching sls found for 'kube-proxy'" in states[0].comment


def test_json_output_after_log_lines() -> None:
    states = parse_json_output(JSON_OUT)
    assert states is not None
    assert [(s.id, s.function, s.name, s.result) for s in states] == [
        ("salt-minion", "service.running", "salt-minion", True),
        ("kubeconfig", "file.managed", "/var/lib/kubelet/kubeconfig", False),
    ]
    assert states[1].comment == "Unable to manage file:\nno such file"
    assert states[0].duration_ms == 12.5
    assert parse_json_output(json.dumps({"local": ["No Top file"]}))[0].result is False  # type: ignore[index]
    assert parse_json_output(HIGHSTATE) is None
    assert parse_output(HIGHSTATE)[0].id == "pkg-core"  # falls back to the text format
