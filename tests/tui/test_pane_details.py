"""Pane details found by using the app: a finished build, ages, narrow screens, the help."""

from __future__ import annotations

from textual.widgets import DataTable, Label, Static

from workbench.events import BuildProgress, LogLine, PipelineFinished, PipelineStarted
from workbench.tui.panes.instances import InstancesPane
from workbench.tui.screens.help import HelpScreen

from .scenes import INSTANCES, NOW
from .waiting import until

STAGES = (("prerequisites", 0.1), ("build image", 0.4), ("go linux/amd64", 1.7), ("packaging", 2.0))


def stage_text(app) -> str:
    return str(app.screen.query_one("#build-stages", Static).render())


async def test_a_finished_build_leaves_no_stage_running(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(PipelineStarted("build"))
        engine.bus.publish(BuildProgress("packaging", 84.0, 3.0, (*STAGES[:3], ("packaging", None))))
        await until(pilot, lambda: "▶" in stage_text(app), "packaging running")
        # the runner's last report is ("done", 100%): not a stage of its own
        engine.bus.publish(BuildProgress("done", 100.0, 0.0, STAGES))
        engine.bus.publish(PipelineFinished("build", True))
        await until(pilot, lambda: "▶" not in stage_text(app), "nothing running")
        assert "done" not in stage_text(app).split()
        assert str(app.screen.query_one("#build-eta", Label).render()) == "done"  # not "0.0s left"


async def test_a_cancelled_build_marks_its_running_stage_failed(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(PipelineStarted("redeploy", ("build", "push", "salt", "verify")))
        engine.bus.publish(BuildProgress("go linux/amd64", 40.0, 9.0, (*STAGES[:2], ("go linux/amd64", None))))
        engine.bus.publish(PipelineFinished("redeploy", False, error="cancelled", failed_stage="build"))
        await until(pilot, lambda: "✗" in stage_text(app), "the running stage failed")
        assert "▶" not in stage_text(app)
        assert str(app.screen.query_one("#build-eta", Label).render()) == "failed"


async def test_the_running_stage_stays_visible_on_a_small_screen(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        names = [f"go linux/arch{i}" for i in range(9)]
        stages = (*((n, 1.0) for n in names[:-1]), (names[-1], None))
        engine.bus.publish(PipelineStarted("build"))
        engine.bus.publish(BuildProgress(names[-1], 90.0, 1.0, stages))
        await until(pilot, lambda: names[-1] in stage_text(app), "the running stage shown")
        shown = stage_text(app).splitlines()
        assert len(shown) <= app.screen.query_one("#build-stages").size.height
        assert "earlier" in shown[0]


async def test_ages_move_on_without_a_new_inventory(make_app, engine) -> None:
    now = [NOW]
    app = make_app(clock=lambda: now[0])
    async with app.run_test(size=(120, 40)) as pilot:
        engine.bus.publish(INSTANCES)
        pane = app.screen.query_one(InstancesPane)
        await until(pilot, lambda: pane.table.row_count == 3, "instances")
        assert str(pane.table.get_cell("kubernetes-minion-2", "age")) == "2m"
        now[0] += 3600
        pane.tick_ages()  # what the pane's timer calls every AGE_TICK seconds
        await pilot.pause()
        assert str(pane.table.get_cell("kubernetes-minion-2", "age")) == "1h"


async def test_the_floating_ip_and_pipeline_fit_at_100_columns(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        engine.bus.publish(INSTANCES)
        table = app.screen.query_one("#instances-table", DataTable)
        await until(pilot, lambda: table.row_count == 3, "instances")
        right = 0
        for column in table.ordered_columns:
            right += column.get_render_width(table)
            if column.label.plain == "floating IP":
                break
        assert right <= table.scrollable_content_region.width


async def test_help_shows_every_binding_id(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = [row[1] for row in app.screen.rows]
        assert "build" in ids and "salt-failed" in ids and "ssh-system" in ids
        assert "Esc" in str(app.screen.query_one("#help-footer").render())


async def test_logs_keep_following_after_a_short_first_batch(make_app, engine) -> None:
    """The hint above the log goes with the first line; later batches must still follow
    (with Log's overflow set to ``auto`` they stopped, seen in tmux at 80x24)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        logs = app.screen.query_one("#logs")
        log = logs.log_view
        for i in range(3):
            engine.bus.publish(LogLine("cloud", None, f"first {i}"))
        await until(pilot, lambda: logs.received == 3, "first batch")
        for batch in range(5):
            for i in range(10):
                engine.bus.publish(LogLine("salt", "kubernetes-master", f"batch {batch} line {i}"))
            await until(pilot, lambda b=batch: logs.received == 3 + 10 * (b + 1), "batch")
        await pilot.pause()
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
