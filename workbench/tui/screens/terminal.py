"""SSH sessions into nodes, embedded: one tab per session, several open at once.

Each session is an asyncssh PTY process from ``engine.open_shell`` feeding a
``TerminalView``. The PTY is opened at the view's size and follows its resizes. Closing
a tab closes its session; leaving the screen closes them all. A shell that exits (status
0) closes its own tab, and the last one returns to the workbench; a shell that failed or
a lost connection keeps its tab open with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, Footer, OptionList, Static, Tab, Tabs

from workbench.tui.engine_api import ShellEngine
from workbench.tui.terminal import TerminalView

TERM_TYPE = "xterm-256color"
_READ_SIZE = 65536


@dataclass(eq=False)
class Session:
    """One PTY session: its node, its view and (once open) the asyncssh process."""

    number: int
    node: str
    view: TerminalView
    process: Any = None
    closed: bool = False

    @property
    def tab_id(self) -> str:
        return f"session-{self.number}"

    @property
    def label(self) -> str:
        return f"{self.node} #{self.number}" + (" (closed)" if self.closed else "")

    def write(self, data: bytes) -> None:
        if self.process is not None and not self.closed:
            with contextlib.suppress(Exception):  # channel gone: the reader reports it
                self.process.stdin.write(data)

    def close(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.process.close()
        self.closed = True


class NodePicker(ModalScreen[str | None]):
    """Choose the node for a new session."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Cancel", id="terminal-picker-cancel",
                        tooltip="Close without opening a session.")]
    DEFAULT_CSS = """
    NodePicker { align: center middle; }
    NodePicker > Vertical { width: 50; height: auto; max-height: 20; border: round $accent; }
    """

    def __init__(self, nodes: list[str]) -> None:
        super().__init__()
        self.nodes = nodes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Open a shell on:")
            yield OptionList(*self.nodes)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.nodes[event.option_index])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class TerminalScreen(Screen[None]):
    """Embedded SSH terminals. Keys go to the remote shell except the bindings below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "new_session", "New session", priority=True, id="terminal-new",
                tooltip="Open another shell (on this or another node) in a new tab."),
        Binding("ctrl+pagedown", "next_session", "Next", priority=True, id="terminal-next",
                tooltip="Show the next session."),
        Binding("ctrl+pageup", "previous_session", "Previous", priority=True,
                id="terminal-previous", tooltip="Show the previous session."),
        Binding("f12", "close_session", "Close", priority=True, id="terminal-close",
                tooltip="Close this session; closing the last one returns to the workbench."),
        Binding("ctrl+f12", "leave", "Back", priority=True, id="terminal-back",
                tooltip="Close every session and return to the workbench."),
    ]
    DEFAULT_CSS = """
    TerminalScreen Tabs { dock: top; }
    TerminalScreen ContentSwitcher { height: 1fr; }
    """

    def __init__(self, engine: ShellEngine, node_name: str) -> None:
        super().__init__()
        self.engine = engine
        self.first_node = node_name
        self.sessions: dict[str, Session] = {}
        self._numbers = itertools.count(1)

    def compose(self) -> ComposeResult:
        tabs = Tabs()
        tabs.can_focus = False
        yield tabs
        yield ContentSwitcher()
        yield Footer()

    async def on_mount(self) -> None:
        await self.open_session(self.first_node)

    # -- sessions --------------------------------------------------------------------
    @property
    def current(self) -> Session | None:
        active = self.query_one(Tabs).active
        return self.sessions.get(active) if active else None

    async def open_session(self, node_name: str) -> Session:
        """Open a new tab with a shell on ``node_name`` and show it."""
        number = next(self._numbers)
        view = TerminalView(id=f"session-{number}-view")
        # mounted hidden: shown beside the current view for one layout, both would get half
        # the height, and shrinking a terminal deletes lines from its top (the open tab
        # came back blank)
        view.display = False
        session = Session(number, node_name, view)
        view.writer = session.write
        self.sessions[session.tab_id] = session
        await self.query_one(ContentSwitcher).mount(view)
        tabs = self.query_one(Tabs)
        await tabs.add_tab(Tab(session.label, id=session.tab_id))
        tabs.active = session.tab_id
        self._show(session)
        self._run_session(session)
        return session

    def _show(self, session: Session) -> None:
        self.query_one(ContentSwitcher).current = session.view.id
        session.view.focus()
        self.sub_title = session.node

    @work(group="terminal", exit_on_error=False)
    async def _run_session(self, session: Session) -> None:
        view = session.view
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(view.sized.wait(), 10)
        cols, rows = view.screen_buffer.columns, view.screen_buffer.lines
        view.feed(f"Connecting to {session.node}...\r\n".encode())
        try:
            session.process = await self.engine.open_shell(session.node, cols, rows)
        except Exception as exc:  # one line for a person, no traceback
            view.feed(f"\r\ncannot open a shell on {session.node}: {exc}\r\n".encode())
            self._mark_closed(session)
            return
        # The PTY may have been opened at a stale size if the view resized meanwhile.
        now = (view.screen_buffer.columns, view.screen_buffer.lines)
        if now != (cols, rows):
            session.process.change_terminal_size(*now)
        view.feed(b"\x1b[H\x1b[2J")
        try:
            while True:
                data = await session.process.stdout.read(_READ_SIZE)
                if not data:
                    break
                view.feed(data if isinstance(data, bytes) else data.encode())
        except Exception as exc:
            view.feed(f"\r\n[connection lost: {exc}]\r\n".encode())
            self._mark_closed(session)
            return
        if session.closed:  # closed from here (F12, leaving)
            return
        why = await self._why_it_ended(session)
        if why is None:  # the shell exited: its tab goes, and the screen with the last one
            await self.close_session(session)
            return
        view.feed(f"\r\n[{why}; F12 closes this tab]\r\n".encode())
        self._mark_closed(session)

    async def _why_it_ended(self, session: Session) -> str | None:
        """None when the shell exited by itself with status 0; else what went wrong."""
        process = session.process
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait_closed(), 5)
        signal = getattr(process, "exit_signal", None)
        if signal:
            return f"the shell was killed by signal {signal[0]}"
        status = getattr(process, "exit_status", None)
        if status is None:
            return "the session ended without an exit status"
        return None if status == 0 else f"the shell exited with status {status}"

    def _mark_closed(self, session: Session) -> None:
        session.close()
        try:
            tab = self.query_one(f"#{session.tab_id}", Tab)
        except Exception:
            return
        tab.label = session.label

    def on_terminal_view_resized(self, event: TerminalView.Resized) -> None:
        for session in self.sessions.values():
            if session.view is event.view and session.process is not None and not session.closed:
                with contextlib.suppress(Exception):
                    session.process.change_terminal_size(event.cols, event.rows)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        session = self.sessions.get(event.tab.id or "")
        if session is not None:
            self._show(session)

    # -- actions ---------------------------------------------------------------------
    def action_new_session(self) -> None:
        nodes = self._node_names()
        if len(nodes) <= 1:
            self.run_worker(self.open_session(nodes[0] if nodes else self.first_node))
            return

        def chosen(node: str | None) -> None:
            if node:
                self.run_worker(self.open_session(node))

        self.app.push_screen(NodePicker(nodes), chosen)

    def _node_names(self) -> list[str]:
        return self.engine.node_names() or [self.first_node]

    def action_next_session(self) -> None:
        self.query_one(Tabs).action_next_tab()

    def action_previous_session(self) -> None:
        self.query_one(Tabs).action_previous_tab()

    async def action_close_session(self) -> None:
        session = self.current
        if session is None:
            self.dismiss()
            return
        await self.close_session(session)

    async def close_session(self, session: Session) -> None:
        """Close ``session`` and its tab; the last one closed returns to the workbench."""
        if session.tab_id not in self.sessions:
            return
        session.close()
        del self.sessions[session.tab_id]
        await self.query_one(Tabs).remove_tab(session.tab_id)
        await session.view.remove()
        if not self.sessions:
            self.dismiss()
        elif self.current is not None:
            self._show(self.current)

    def action_leave(self) -> None:
        self.dismiss()

    def on_unmount(self) -> None:
        for session in self.sessions.values():
            session.close()
