"""Failure messages name a node once: "up failed at instances: kubernetes-minion-1: ended
in ERROR", never "... on kubernetes-minion-1: kubernetes-minion-1: ended in ERROR"."""

from __future__ import annotations

import pytest

from workbench.engine.facade import Engine
from workbench.errors import NodeError, PipelineFailed
from workbench.events import Bus, PipelineFinished
from workbench.profile import load_profile


async def test_a_boot_error_in_up_names_the_node_once(make_sandbox) -> None:
    box = make_sandbox(minions=1, faults=["boot-error"])
    bus = Bus()
    seen: list[object] = []
    bus.add_listener(seen.append)
    engine = Engine(load_profile(box.profile_path, environ={}), bus=bus)
    try:
        with pytest.raises(PipelineFailed) as failed:
            await engine.up()
    finally:
        await engine.close()
    text = str(failed.value)
    name = next(n for n in failed.value.nodes)
    assert "ended in ERROR" in text
    assert text.count(name) == 1, text
    assert text.startswith(f"up failed at instances: {name}: ended in ERROR"), text
    finished = [e for e in seen if isinstance(e, PipelineFinished) and e.pipeline == "up"]
    assert finished and all(e.error is None or e.error.count(name) == 1 for e in finished)


def test_wrapping_a_node_error_does_not_repeat_its_node() -> None:
    inner = NodeError("kubernetes-minion-1", "push agent failed to start")
    again = NodeError("kubernetes-minion-1", str(inner))
    assert str(again) == "kubernetes-minion-1: push agent failed to start"
    wrapped = PipelineFailed("fix", "provision", str(inner), (inner.node,))
    assert str(wrapped) == "fix failed at provision: kubernetes-minion-1: push agent failed to start"
    # a message that does not name the node still gets it, once
    assert str(PipelineFailed("salt", "salt", "2 state(s) failed", ("a",))) == "salt failed at salt on a: 2 state(s) failed"
    assert str(NodeError("a", "a-b: something")) == "a: a-b: something"  # a prefix of another name is not a match
