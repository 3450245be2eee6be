"""Rich rendering for the ``stacks`` CLI: progress lines while a stack runs, a summary after.

Progress goes to stderr and the summary to stdout, so ``stacks run X > summary.txt`` keeps the
summary clean. Every value printed is wrapped in :class:`rich.text.Text`, never parsed as markup:
table names and tool messages may contain square brackets.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text
from stacks_contract.models import RunRecord, RunStatus

__all__ = ["ConsoleReporter", "render_summary"]


class ConsoleReporter:
    """A :class:`~stacks_contract.ports.Reporter` printing ``elapsed step message`` lines.

    On a terminal a spinner also shows the latest line. Safe to call from worker threads
    (orchestrators may report from several at once).
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._t0 = time.monotonic()
        self._status: Status | None = None
        self._lock = threading.Lock()

    def __call__(self, step: str, message: str) -> None:
        elapsed = time.monotonic() - self._t0
        line = Text.assemble((f"{elapsed:7.1f}s ", "dim"), (f"{step} ", "bold cyan"), message)
        with self._lock:
            self.console.print(line, soft_wrap=True)
            if self._status is not None:
                self._status.update(Text(f"{step}: {message}"))

    @contextlib.contextmanager
    def spinning(self, title: str) -> Iterator[ConsoleReporter]:
        """A spinner while the block runs, on terminals only (elsewhere it would print junk)."""
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
