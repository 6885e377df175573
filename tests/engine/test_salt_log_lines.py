"""Salt's output in the logs reads like Salt's, not like its raw ``--out=json`` document.

Found in the TUI and in ``workbench salt``: every line of the JSON (``"__run_num__": 5,``,
``},``) went to the logs pane and to stderr, 170 lines for a 6-state highstate.
"""

from __future__ import annotations

import json

from workbench.engine.salt.runner import readable_lines
from workbench.engine.salt_master.runner import salt_runner
from workbench.events import LogLine

from .test_salt_helpers import view

FAILED = json.dumps({"local": {
    "file_|-kubeconfig_|-/var/lib/kubelet/kubeconfig_|-managed": {
        "result": True, "comment": "File is in the correct state", "name": "/var/lib/kubelet/kubeconfig",
        "__id__": "kubeconfig", "changes": {}, "__run_num__": 0, "duration": 3.5,
    },
    "service_|-kubelet_|-kubelet_|-running": {
        "result": False, "comment": "Service kubelet failed to start\nsee journalctl -u kubelet",
        "name": "kubelet", "__id__": "kubelet", "changes": {}, "__run_num__": 1, "duration": 12.25,
    },
}}, indent=4)


def test_a_line_per_good_state_and_the_whole_block_for_a_failed_one() -> None:
    lines = readable_lines(FAILED)
    assert lines[0] == ("  Name: /var/lib/kubelet/kubeconfig - Function: file.managed - "
                        "Result: Clean - Duration: 3.500 ms")
    assert lines[1:] == [
        "----------", "          ID: kubelet", "    Function: service.running", "        Name: kubelet",
        "      Result: False", "     Comment: Service kubelet failed to start",
        "              see journalctl -u kubelet", "    Duration: 12.250 ms",
    ]


def test_text_output_is_kept_as_it_is() -> None:
    text = "local:\n----------\n          ID: kubelet\n    Function: service.running\n      Result: True\n"
    assert readable_lines(text) == text.splitlines()


async def test_a_highstate_on_the_sandbox_logs_no_json(real_cluster) -> None:
    c = await view(real_cluster)
    try:
        report = await salt_runner(c.profile, c.pool, c.state, c.bus, c.instances).run(list(c.instances))
        assert report.ok, report.to_json()
        logged = [e for e in c.events if isinstance(e, LogLine) and e.source == "salt"]
        assert {e.node for e in logged} >= {i.name for i in c.instances}
        texts = [e.text for e in logged]
        assert not [t for t in texts if t.lstrip().startswith(("{", "}", '"'))], texts[:5]
        minion = c.minions[0].name
        mine = [e.text for e in logged if e.node == minion]
        assert any(t.startswith("  Name: kubelet - Function: service.running - Result: Clean") for t in mine), mine
        states = {r.node: r.states for r in report.runs}[minion]
        # one line per state, every state went well (Salt's stderr, e.g. Python's warnings, as it came)
        assert len([t for t in mine if t.startswith("  Name: ")]) == len(states) >= 10, mine
    finally:
        await c.close()
