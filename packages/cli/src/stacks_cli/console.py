"""Rich rendering for the ``stacks`` CLI: progress lines while a stack runs, a summary after.

Progress goes to stderr and the summary to stdout, so ``stacks run X > summary.txt`` keeps the
summary clean. Every value printed is wrapped in :class:`rich.text.Text`, never parsed as markup:
table names and tool messages may contain square brackets.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.status import Status
from rich.text import Text

if TYPE_CHECKING:
    from stacks_contract.models import RunRecord

__all__ = ["ConsoleReporter", "heartbeat_seconds", "render_summary"]

#: a heartbeat line after this many seconds without a line (``STACKS_HEARTBEAT_SECONDS``)
HEARTBEAT_SECONDS = 5.0


def heartbeat_seconds() -> float:
    """``STACKS_HEARTBEAT_SECONDS`` if set to a positive number, else 5."""
    try:
        value = float(os.environ.get("STACKS_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))
    except ValueError:
        return HEARTBEAT_SECONDS
    return value if value > 0 else HEARTBEAT_SECONDS


class ConsoleReporter:
    """A :class:`~stacks_contract.ports.Reporter` printing ``elapsed step message`` lines.

    On a terminal a spinner also shows the latest line. Safe to call from worker threads
    (orchestrators may report from several at once). Used as a context manager it also prints a
    heartbeat: when no line came for :func:`heartbeat_seconds`, the latest stage again with how
    long it has lasted, so a long step (a big load, dbt's parse, an orchestrator starting) is
    never silent.
    """

    def __init__(
        self, console: Console, *, started: float | None = None, every: float | None = None
    ) -> None:
        self.console = console
        self._t0 = time.monotonic() if started is None else started
        self._every = heartbeat_seconds() if every is None else every
        self._status: Status | None = None
        self._lock = threading.Lock()
        self._last_line = time.monotonic()
        self._stage: tuple[str, str] | None = None
        self._stage_since = self._last_line
        self._depth = 0
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    def __call__(self, step: str, message: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._stage, self._stage_since = (step, message), now
            self._print(step, Text(message), now)

    def say(self, message: str) -> None:
        """A line of its own (no elapsed time, no step), e.g. what is about to run."""
        with self._lock:
            self.console.print(Text(message), soft_wrap=True)
            self._last_line = time.monotonic()

    def _print(self, step: str, message: Text, now: float) -> None:
        elapsed = now - self._t0
        line = Text.assemble((f"{elapsed:7.1f}s ", "dim"), (f"{step} ", "bold cyan"), message)
        self.console.print(line, soft_wrap=True)
        self._last_line = now
        if self._status is not None:
            self._status.update(Text(f"{step}: {message.plain}"))

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self._every / 4)):
            with self._lock:
                now = time.monotonic()
                if self._stage is None or now - self._last_line < self._every:
                    continue
                step, message = self._stage
                lasted = f"still running, {now - self._stage_since:.0f}s in this stage"
                self._print(step, Text.assemble(message, (f" ({lasted})", "dim")), now)

    def __enter__(self) -> ConsoleReporter:
        with self._lock:
            self._depth += 1
            if self._beating is None:
                self._stop.clear()
                self._beating = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
                self._beating.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth or self._beating is None:
                return
            thread, self._beating = self._beating, None
            self._stop.set()
        thread.join()  # no heartbeat after this: the summary or the JSON document comes next

    @contextlib.contextmanager
    def spinning(self, title: str) -> Iterator[ConsoleReporter]:
        """The heartbeat while the block runs, and a spinner on terminals only (elsewhere it
        would print junk)."""
        with self:
            if not self.console.is_terminal:
                yield self
                return
            with self.console.status(Text(title)) as status:
                self._status = status
                try:
                    yield self
                finally:
                    self._status = None


def render_summary(
    console: Console,
    record: RunRecord,
    warehouse_url: str,
    hints: list[str] | None = None,
    *,
    waited: float | None = None,
) -> None:
    """The end-of-run summary: rows per raw table, then the run's totals, warehouse and hints.

    ``waited``: the seconds the user waited for the whole command (imports, planning, the dbt
    parse and the run); the duration shown, with the run's own seconds (the ledger's) beside it.
    """
    from rich.table import Table
    from stacks_contract.models import RunStatus

    rows = Table(title=Text(f"Run {record.run_id}"), title_justify="left")
    rows.add_column("table", no_wrap=True)
    rows.add_column("rows loaded", justify="right", no_wrap=True)
    for key in sorted(record.rows):
        rows.add_row(Text(key), f"{record.rows[key]:,}")
    if record.rows:
        rows.add_row(Text("total", style="bold"), f"{sum(record.rows.values()):,}")
    else:
        rows.add_row(Text("(no tables loaded)", style="dim"), "0")
    console.print(rows)

    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="bold", no_wrap=True)
    totals.add_column(overflow="fold")
    style = "green" if record.status == RunStatus.SUCCEEDED else "red"
    totals.add_row("status", Text(record.status.value, style=style))
    totals.add_row("stack", Text(f"{record.stack} (orchestrator: {record.orchestrator})"))
    others = [
        f"{n} {kind}{'s' if n > 1 else ''}"
        for n, kind in ((record.seeds_built, "seed"), (record.snapshots_built, "snapshot"))
        if n
    ]
    also = f" (and {', '.join(others)})" if others else ""
    totals.add_row("models built", f"{record.models_built}{also}")
    warned = f"{record.tests_warned} warned, " if record.tests_warned else ""
    totals.add_row("tests", f"{record.tests_passed} passed, {warned}{record.tests_failed} failed")
    seconds = record.seconds
    run = "-" if seconds is None else f"{seconds:.1f}s"
    shown = run if waited is None else f"{waited:.1f}s (the run itself: {run})"
    totals.add_row("duration", shown)
    console.print(totals)
    # outside the grid and soft-wrapped so a long path is never broken (users copy it)
    console.print(Text.assemble((f"{'warehouse':<12}  ", "bold"), warehouse_url), soft_wrap=True)
    if record.artifacts:  # dbt's target/: run_results.json, manifest.json, compiled SQL
        console.print(
            Text.assemble((f"{'artifacts':<12}  ", "bold"), record.artifacts), soft_wrap=True
        )
    for hint in hints or []:
        console.print(Text(hint), soft_wrap=True)
