"""Backfill a window through a Temporal Schedule, as a user would: the stack gets a cron trigger
ticking at the window's start and end, its Schedule is created, and ``temporal schedule
backfill`` (``ScheduleHandle.backfill``) fires the end tick; that run covers ``[start, end)``.

A schedule's id is the stack's name and its workflow id the schedule id plus the tick, so an
earlier backfill of the same window (another warehouse, one dev server per session) left a
closed workflow with the very id this one gets: the run to wait for is one whose run id was not
there before (under load, visibility lists the new run late and the old one answered first)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from stacks_contract.models import CronTrigger, RunRecord, StackSpec, Window
from stacks_contract.warehouse import Warehouse
from stacks_core.ledger import Ledger
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
            query = f"TemporalScheduledById = '{sid}'"
            before = {w.run_id async for w in client.list_workflows(query)}
            try:
                await handle.backfill(
                    ScheduleBackfill(
                        start_at=window.end,
                        end_at=window.end + timedelta(seconds=1),
                        overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                    )
                )
                for _ in range(600):
                    found = [w async for w in client.list_workflows(query)]
                    new = [w for w in found if w.run_id not in before]
                    if new:
                        wf = client.get_workflow_handle(new[0].id, run_id=new[0].run_id)
                        return RunRecord.model_validate(await wf.result())
                    await asyncio.sleep(0.1)
                raise AssertionError("the backfill started no run in 60 s")
            finally:
                await handle.delete()

    reported = asyncio.run(scenario())
    record = Ledger(warehouse).get(reported.run_id)
    assert record is not None, f"the backfill run {reported.run_id} has no ledger row"
    return record  # what the ledger says, not only what the workflow returned
