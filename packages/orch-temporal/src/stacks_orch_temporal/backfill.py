"""A Temporal Schedule's backfill as a window run.

A tick's run normally loads what is new since the last run (EL cursors), whatever time it is
for. A tick the schedule starts once its next tick has passed (``temporal schedule backfill``,
``ScheduleHandle.backfill``, a catch-up after the server was down for a whole interval) covers
its interval instead: ``[previous tick, tick)``, as an Airflow backfill covers its data interval,
so each tool's backfill of a window leaves what ``stacks run --window`` leaves.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from stacks_contract.models import CronTrigger, Window

__all__ = ["backfill_window"]


def backfill_window(trigger: CronTrigger, tick: datetime, started: datetime) -> Window | None:
    """``[previous tick, tick)`` when the run for ``tick`` started at or after the tick after it
    (a backfill); None for a tick started on time."""
    from croniter import croniter  # type: ignore[import-untyped]  # ships no stubs

    local = tick.astimezone(ZoneInfo(trigger.timezone))
    following = croniter(trigger.cron, local).get_next(datetime)
    if started < following:
        return None
    previous = croniter(trigger.cron, local).get_prev(datetime)
    return Window(start=previous, end=local)
