"""Backfill a window through a Temporal Schedule, as a user would: the stack gets a cron trigger
ticking at the window's start and end, its Schedule is created, and ``temporal schedule
backfill`` (``ScheduleHandle.backfill``) fires the end tick; that run covers ``[start, end)``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from stacks_contract.models import CronTrigger, RunRecord, StackSpec, Window
from stacks_contract.warehouse import Warehouse
from stacks_orch_temporal import StackResolver, StepOptions, TemporalBundle, stack_ref


def window_cron(window: Window) -> CronTrigger:
    """A daily cron ticking at the window's start and at its end (same day, same minute)."""
    start, end = window.start, window.end
    if start.date() != end.date() or start.minute != end.minute:
        raise ValueError(f"no daily cron ticks at both ends of {window}")
    return CronTrigger(cron=f"{start.minute} {start.hour},{end.hour} * * *")


def backfill(
    address: str, stack: StackSpec, window: Window, warehouse: Warehouse, options: StepOptions
) -> RunRecord:
    spec = stack.model_copy(update={"triggers": (window_cron(window),)})
    bundle = TemporalBundle(
        ref=stack_ref(spec.name, warehouse),
        task_queue=f"backfill-{uuid.uuid4().hex[:8]}",
        options=options,
        resolver=StackResolver({spec.name: spec}, [warehouse]),
    )

    async def scenario() -> RunRecord:
        from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy

        client = await Client.connect(address)
        async with bundle.worker(client):
            (sid,) = await bundle.apply_schedules(client, spec)
            handle = client.get_schedule_handle(sid)
            try:
                await handle.backfill(
                    ScheduleBackfill(
                        start_at=window.end,
                        end_at=window.end + timedelta(seconds=1),
                        overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                    )
                )
                query = f"TemporalScheduledById = '{sid}'"
                for _ in range(600):
                    found = [w async for w in client.list_workflows(query)]
                    if found:
                        result = await client.get_workflow_handle(found[0].id).result()
                        return RunRecord.model_validate(result)
                    await asyncio.sleep(0.1)
                raise AssertionError("the backfill started no run in 60 s")
            finally:
                await handle.delete()

    return asyncio.run(scenario())
