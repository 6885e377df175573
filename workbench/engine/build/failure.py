"""Which lines of a failed Kubernetes build explain it: the cause first, then the framing.

Real failures (tests/fixtures/real/build) put the cause in lines the build scripts do
not mark: the docker output after ``+++ Docker build command failed``, ``rsync:``,
``cp: cannot stat``, ``Container command ... not found``, an indented ``!!!`` from the
prerequisite checks, a compiler error. ``!!! Error in ...``, ``Call stack``/``Call
tree`` and ``make: *** ... Error 1`` only say where it stopped.
"""

from __future__ import annotations

import re

PACKAGE_HEADER = re.compile(r"^# \S+$")  # the package a compiler error belongs to
MISSING = re.compile(r": (?:No such file or directory|command not found)$")
#: Lines that say why (the cause).
CAUSE = (PACKAGE_HEADER, MISSING, *(re.compile(p) for p in (
    r"^\+\+\+ Docker build command failed",
    r"^\s*!!! (?!\[\d{4} [\d:]{8}\] (?:Call tree|\s*\d+: )|Error in )",  # "!!! Cannot find GNU tar", "!!! [..] Could not connect"
    r"^rsync(?: error)?: |^@ERROR: ",
    r"^cp: |^mv: |^tar: |^ln: |^mkdir: ",
    r"Container command .* not found",
    r"(?:Error response from daemon|Cannot start container|no space left on device|unknown flag: )",
    r"^\S+\.go:\d+(?::\d+)?: ",  # go compiler: file.go:12:3: message
    r"^(?:FAIL\b|--- FAIL:|panic:|can't load package:|go: |fatal: )",
    r"^(?:Error|ERROR|error): |^#\d+ ERROR: ",
    r": Permission denied$",
)))
#: Cause lines that are context, or match harmless noise too (``find: 'rsync': No such file``).
WEAK = (PACKAGE_HEADER, MISSING)

#: Lines that only say where the build stopped.
FRAME = tuple(re.compile(p) for p in (
    r"^!!! ",
    r"^make(?:\[\d+\])?: \*\*\*",
    r"^\s+'.*' exited with status \d+$",
    r"^\s+Error in \S+:\d+\.",
))

DOCKER_BLOCK_START = "+++ Docker build command failed"
DOCKER_BLOCK_END = "To retry manually"


class FailureLines:
    """Feed every line; ``lines()`` is the cause lines, then the framing lines."""

    def __init__(self, keep: int = 40) -> None:
        self.keep = keep
        self.causes: list[str] = []
        self.frames: list[str] = []
        self._docker: list[str] | None = None  # the docker output block being read

    def feed(self, line: str) -> None:
        if self._docker is not None:
            if line.startswith(DOCKER_BLOCK_END):
                self._end_docker()
            else:
                self._docker.append(line)
                return
        if line.startswith(DOCKER_BLOCK_START):
            self._docker = []
        if any(p.search(line) for p in CAUSE):
            self._add(self.causes, [line])
        elif any(p.search(line) for p in FRAME):
            self._add(self.frames, [line])

    def _add(self, into: list[str], lines: list[str]) -> None:
        for line in lines:
            if line not in into:
                into.append(line)
        del into[: max(0, len(into) - self.keep)]

    def finish(self) -> None:
        """A docker block the build cut off (no "To retry manually"): keep its last lines."""
        if self._docker is not None:
            self._end_docker()

    def _end_docker(self) -> None:
        """Docker's own error lines from the block ("unknown flag: --load"), else its last line."""
        block = [ln for ln in self._docker or [] if ln.strip()]
        self._add(self.causes, [ln for ln in block if any(p.search(ln) for p in CAUSE)] or block[-1:])
        self._docker = None

    def lines(self) -> list[str]:
        return [*self.causes, *self.frames]

    def cause(self) -> str | None:
        """The one line that says why, for a one-line error: the first strong cause line."""
        if not self.causes:
            return self.frames[-1] if self.frames else None
        strong = [c for c in self.causes if not c.startswith(DOCKER_BLOCK_START)
                  and any(p.search(c) for p in CAUSE if p not in WEAK)]
        return (strong or self.causes)[0]
