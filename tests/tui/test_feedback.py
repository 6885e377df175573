"""What a person sees after each key: toasts, the footer's keys, hints in empty panes.

Found by using the app on the sandbox (100x30 and 120x40): the footer hid Help and Quit,
empty panes were blank, a finished pipeline or a new alert went unnoticed, and a failure
toast named its node twice.
"""

from __future__ import annotations

import asyncio

import pytest
from textual import events
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from workbench.events import AlertsChanged, PipelineFinished
from workbench.models.alerts import Alert, Fix
from workbench.tui.screens.confirm import ConfirmScreen

from .scenes import ALERTS, CLUSTER, INSTANCES, PORT_ALERT, TOKEN_ALERT, log_lines
from .test_keys import notes
from .waiting import settle, until


def footer_keys(app) -> dict[str, tuple[int, int]]:
    """description -> (x, right edge) of every key the footer shows."""
    footer = app.screen.query_one(Footer)
    return {k.description: (k.region.x, k.region.right) for k in footer.query(FooterKey) if k.region.width}


@pytest.mark.parametrize("size", [(100, 30), (120, 40)])
async def test_footer_shows_help_and_quit_whole(make_app, size) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        shown = footer_keys(app)
        for wanted in ("Build", "Up", "Redeploy", "Fix", "SSH", "Search", "Help", "Quit"):
            assert wanted in shown, f"{wanted} not in the footer at {size}: {sorted(shown)}"
            assert shown[wanted][1] <= size[0], f"{wanted} cut off at {size}"
        assert "Cancel" not in shown  # nothing to cancel yet
        assert list(shown).count("Commands") <= 1  # the palette key once, not twice


async def test_cancel_is_in_the_footer_while_a_pipeline_runs(make_app, engine) -> None:
    engine.hold = asyncio.Event()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await until(pilot, lambda: "Cancel" in footer_keys(app), "Ctrl+C Cancel in the footer")
        await pilot.press("ctrl+c", "y")
        await settle(pilot)
        await until(pilot, lambda: "Cancel" not in footer_keys(app), "Ctrl+C Cancel gone")


async def test_empty_panes_say_what_to_do(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        hints = {h.id: str(h.render()) for h in app.screen.query(".empty") if h.display}
        assert "press u" in hints["instances-empty"]
        assert "No cluster info yet" in hints["cluster-empty"]
        assert "No alerts" in hints["alerts-empty"]
        assert "appears here" in hints["logs-empty"]
        for event in (INSTANCES, CLUSTER, ALERTS, *log_lines(2)):
            engine.bus.publish(event)
        await until(pilot, lambda: not any(h.display for h in app.screen.query(".empty")), "hints hidden")


async def test_a_finished_pipeline_says_so(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("u")
        await settle(pilot)
        await until(pilot, lambda: any(n.startswith("up finished in") for n in notes(app)), "finished toast")


async def test_a_failure_names_its_node_once(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(PipelineFinished(
            "fix", False, error="kubernetes-minion-2: cannot read var/lib/kubelet/kubeconfig",
            failed_stage="token-mismatch:write-token", failed_nodes=("kubernetes-minion-2",),
        ))
        engine.bus.publish(PipelineFinished(
            "salt", False, error="2 state(s) failed", failed_stage="salt", failed_nodes=("kubernetes-minion-1",),
        ))
        await until(pilot, lambda: len(notes(app)) >= 2, "failure toasts")
        fix, salt = [n for n in notes(app) if "failed" in n]
        assert fix.count("kubernetes-minion-2") == 1
        assert fix.startswith("fix failed at token-mismatch:write-token: kubernetes-minion-2: cannot read")
        assert salt == "salt failed at salt (kubernetes-minion-1): 2 state(s) failed"


async def test_new_alerts_get_a_toast_the_first_check_does_not(make_app, engine) -> None:
    unnamed = Alert(kind="stale-vagrant-machine", severity="warning", subject="kube-1",
                    message="an old machine entry", command="ls .vagrant/machines")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(AlertsChanged((PORT_ALERT,)))
        await until(pilot, lambda: app.screen.query_one("#alerts-table").row_count == 1, "first alerts")
        assert not notes(app)  # they are in the pane as the app opens
        engine.bus.publish(AlertsChanged((PORT_ALERT, TOKEN_ALERT, unnamed)))
        await until(pilot, lambda: len(notes(app)) == 2, "a toast for each new alert")
        # a message that names its node already is not prefixed with it again
        assert sorted(notes(app)) == sorted([
            f"token-mismatch: {TOKEN_ALERT.message}", "stale-vagrant-machine on kube-1: an old machine entry",
        ])
        engine.bus.publish(AlertsChanged((TOKEN_ALERT,)))  # resolved ones: no toast
        await until(pilot, lambda: app.screen.query_one("#alerts-table").row_count == 1, "resolved")
        assert len(notes(app)) == 2


async def test_a_fix_says_it_started_and_a_subject_is_never_markup(make_app, engine) -> None:
    hostile = Alert(
        kind="leaked-port", severity="warning", subject="[/oops] [bold]port",
        message="a port named by someone else", command="openstack port list",
        fixes=(Fix("delete", "delete it", _noop),),
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(AlertsChanged((hostile,)))
        await until(pilot, lambda: app.screen.query_one("#alerts-table").row_count == 1, "alert")
        app.screen.query_one("#alerts-table").focus()
        await pilot.press("f")
        assert isinstance(app.screen, ConfirmScreen)
        assert "[/oops] [bold]port" in str(app.screen.query_one("#confirm-title").render())
        assert "y: Delete" in str(app.screen.query_one("#confirm-hint").render())
        await pilot.press("y")
        await settle(pilot)
        assert any(n.startswith("fixing leaked-port on [/oops] [bold]port") for n in notes(app))
        assert ("fix", "leaked-port", "[/oops] [bold]port", "delete") in engine.calls


async def test_tabs_typed_at_once_move_one_pane_each(make_app) -> None:
    """Keys pasted or typed fast arrive in one batch: each Tab must see the last one's move."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.screen.current_pane() == "instances"
        for _ in range(3):
            app.post_message(events.Key("tab", "\t"))
        await until(pilot, lambda: app.screen.current_pane() != "instances", "focus moved")
        await pilot.pause()
        assert app.screen.current_pane() == "alerts"  # instances -> logs -> cluster -> alerts


async def _noop() -> str:
    return "done"


async def test_alerts_after_a_quiet_start_get_a_toast(make_app, engine) -> None:
    """The engine's first check is always published, even when it finds nothing; an
    alert that appears later (a server deleted behind our back) is new and gets its toast."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(AlertsChanged(()))  # the first check: nothing wrong
        await until(pilot, lambda: app.screen._alert_keys is not None, "the first check seen")
        engine.bus.publish(AlertsChanged((TOKEN_ALERT,)))
        await until(pilot, lambda: notes(app), "a toast for the first alert")
        assert notes(app)[0] == f"token-mismatch: {TOKEN_ALERT.message}"
