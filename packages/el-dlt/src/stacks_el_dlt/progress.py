"""dlt's own progress counters, as lines to a run's :class:`~stacks_contract.ports.Reporter`.

dlt counts while it works (rows per table while extracting and normalizing, jobs while loading)
and hands the counts to the pipeline's ``collector`` (``dlt.progress``: log, tqdm, ...). This
collector turns them into a line per stage every :data:`EVERY` seconds, e.g.
``extract: 120,000 rows so far (customers 100,000, orders 20,000)``, and the stage's total when
it ends: a long load is never a silent minute, a short one adds no line.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from dlt.common.runtime.collector import Collector
from stacks_contract.ports import Reporter

__all__ = ["EVERY", "ReporterCollector"]

#: seconds between two lines of one stage
EVERY = 2.0
_COUNTERS = {"Resources", "Files", "Jobs"}  # dlt's bookkeeping counters, not tables


class ReporterCollector(Collector):
    """A dlt ``Collector`` reporting ``<stage>: <counts>`` for the step ``step_name``."""

    def __init__(self, step_name: str, report: Reporter, every: float | None = None) -> None:
        self.step_name = step_name
        self.report = report
        self.every = EVERY if every is None else every
        self.stage = ""
        self.rows: Counter[str] = Counter()
        self.jobs = [0, 0]  # done, total
        self._last = 0.0
        self._said = False  # a line was reported in this stage

    def __deepcopy__(self, memo: dict[int, Any]) -> ReporterCollector:
        return self  # dlt copies its collector for the normalize step: one report, one counter

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        if name == "Jobs":
            if label is None:
                self.jobs[0] += inc
            self.jobs[1] = max(self.jobs[1], total or 0) + (inc_total or 0)
        elif name not in _COUNTERS and label is None:
            self.rows[name] += inc
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last, self._said = now, True
            self.report(self.step_name, self._line(" so far"))

    def _line(self, suffix: str) -> str:
        if self.stage == "load":
            done, total = self.jobs
            return f"load: {done:,} of {total:,} jobs done" if total else "load: started"
        total_rows = sum(self.rows.values())
        line = f"{self.stage}: {total_rows:,} rows{suffix}"
        if not self.rows:
            return line
        tables = ", ".join(f"{t} {n:,}" for t, n in self.rows.most_common(3))
        return f"{line} ({tables}{', ...' if len(self.rows) > 3 else ''})"

    def _start(self, step: str) -> None:
        # dlt names its steps "Extract <source>", "Normalize <schema> in <load id>", "Load ..."
        self.stage = step.split(" ", 1)[0].lower()
        self.rows.clear()
        self.jobs = [0, 0]
        self._last, self._said = time.monotonic(), False

    def _stop(self) -> None:
        if self._said:
            self.report(self.step_name, self._line(""))
