"""Triggers under Temporal: the contract's trigger suite over the native rendering (a Schedule per
cron trigger, a watcher workflow's probe activity per event trigger), and both run for real on
the dev server: a file lands and the watcher starts exactly one run, also after a restart; a
schedule's tick runs under the contract's run id for that tick."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    RunRequest,
    RunStatus,
    SourceChangeTrigger,
    StackSpec,
    Trigger,
    TriggerKind,
    Window,
)
from stacks_contract.ports import silent
from stacks_contract.triggers import cron_token, trigger_request
from stacks_core.ledger import Ledger
from stacks_orch_temporal import (
    StackActivities,
    StackResolver,
    StepOptions,
    TemporalBundle,
    TemporalOrchestrator,
    stack_ref,
)
from stacks_orch_temporal.triggers import StackTriggerWorkflow
from stacks_testing import reference as ref
from stacks_testing.suites import BaseTriggerSuite, TriggerHarness
from temporalio.client import ScheduleOverlapPolicy
from temporalio.testing import ActivityEnvironment


def _bundle(stack: StackSpec, warehouse, queue: str = "triggers") -> TemporalBundle:
    return TemporalBundle(
        ref=stack_ref(stack.name, warehouse),
        task_queue=queue,
        resolver=StackResolver({stack.name: stack}, [warehouse]),
    )


class TemporalTriggers(TriggerHarness):
    """What the Temporal rendering evaluates: a Schedule's tick (its run's plan activity names
    the run) and a watcher's probe activity, the cursor being the watcher's own state."""

    def __init__(self, warehouse) -> None:
        self.warehouse = warehouse

    def fire(
        self, stack: StackSpec, trigger: Trigger, cursor: str | None, now: datetime
    ) -> tuple[list[RunRequest], str | None]:
        bundle = _bundle(stack, self.warehouse)
        acts = StackActivities(bundle.resolver)
        index = stack.triggers.index(trigger)
        if isinstance(trigger, CronTrigger):
            schedule = bundle.schedules(stack)[f"{stack.name}-cron-{index}"]
            assert schedule.spec.cron_expressions == [trigger.cron]
            assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
            if cursor == cron_token(now):  # a Schedule starts each tick once
                return [], cursor
            inp = schedule.action.args[0]
            request = {**inp.request, "run_id": f"{schedule.action.id}-{now.isoformat()}"}
            plan = asyncio.run(
                ActivityEnvironment().run(
                    acts.plan, inp.ref, request, inp.cron_index, now.isoformat()
                )
            )
            return [RunRequest.model_validate(plan["request"])], cron_token(now)
        watcher = bundle.watchers(stack)[f"{stack.name}-trigger-{index}"]
        tick = asyncio.run(
            ActivityEnvironment().run(
                acts.probe, watcher.ref, watcher.index, cursor, now.isoformat()
            )
        )
        return [RunRequest.model_validate(r) for r in tick["requests"]], tick["cursor"]


class TestTemporalTriggers(BaseTriggerSuite):
    @pytest.fixture
    def trigger_harness(self, duckdb_warehouse) -> TriggerHarness:
        return TemporalTriggers(duckdb_warehouse)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def triggered(tmp_path: Path, landing: Path) -> StackSpec:
    spec = ref.reference_stack(tmp_path / "src", name="watched")
    triggers = (
        CronTrigger(cron="0 6 * * *"),
        FileArrivalTrigger(path=str(landing), pattern="*.csv", steps=("orders",)),
        SourceChangeTrigger(step="customers", poll_seconds=30),
    )
    return spec.model_copy(update={"triggers": triggers})


def test_a_landed_file_starts_one_run_and_a_restarted_watcher_not_another(
    triggered, landing, duckdb_warehouse, temporal_server
) -> None:
    from temporalio.client import Client

    # the stack has run once: a file-arrival run loads orders and rebuilds what reads them
    orchestrator = TemporalOrchestrator(address=temporal_server.address)
    first = orchestrator.run(triggered, RunRequest(stack=triggered.name), duckdb_warehouse)
    assert first.status == RunStatus.SUCCEEDED, first.error
    bundle = _bundle(triggered, duckdb_warehouse, queue="watched-files")
    wid = f"{triggered.name}-trigger-1"
    watcher = dataclasses.replace(bundle.watchers(triggered)[wid], poll_seconds=0.2, max_ticks=3)
    (landing / "orders-1.csv").write_text("id\n1\n")

    async def scenario() -> list[str]:
        client = await Client.connect(temporal_server.address)
        async with bundle.worker(client):
            first = await client.start_workflow(
                StackTriggerWorkflow.run, watcher, id=wid, task_queue=bundle.task_queue
            )
            cursor = await first.result()
            assert cursor, "the watcher saw the file but kept no cursor"
            runs = [r.run_id for r in _file_runs(duckdb_warehouse)]
            for run_id in runs:  # the run outlives the watcher; wait for it
                await client.get_workflow_handle(run_id).result()
            # a watcher restarted from nothing sees the same file, names the same run, and
            # Temporal refuses to start it again
            again = dataclasses.replace(watcher, max_ticks=1)
            second = await client.start_workflow(
                StackTriggerWorkflow.run, again, id=wid + "-again", task_queue=bundle.task_queue
            )
            await second.result()
            for run_id in runs:
                executions = [w async for w in client.list_workflows(f"WorkflowId = '{run_id}'")]
                assert len(executions) == 1, f"run {run_id} was started {len(executions)} times"
            return runs

    started = asyncio.run(scenario())
    records = _file_runs(duckdb_warehouse)
    assert [r.run_id for r in records] == started and len(started) == 1, records
    (record,) = records
    assert record.trigger == TriggerKind.FILE_ARRIVAL
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert record.steps == ("orders",), "a landed orders file ran more than its step"


def _file_runs(warehouse) -> list:
    return [r for r in Ledger(warehouse).runs() if r.trigger == TriggerKind.FILE_ARRIVAL]


def test_a_schedule_tick_runs_under_the_contract_s_run_id(
    triggered, duckdb_warehouse, temporal_server
) -> None:
    from temporalio.client import Client

    bundle = _bundle(triggered, duckdb_warehouse, queue="watched-cron")

    async def scenario() -> None:
        client = await Client.connect(temporal_server.address)
        async with bundle.worker(client):
            (sid,) = await bundle.apply_schedules(client, triggered)
            try:
                await client.get_schedule_handle(sid).trigger()
                deadline = time.monotonic() + 60
                while not any(
                    r.status != RunStatus.RUNNING for r in Ledger(duckdb_warehouse).runs()
                ):
                    assert time.monotonic() < deadline, "the triggered tick never finished"
                    await asyncio.sleep(0.2)
            finally:
                await client.get_schedule_handle(sid).delete()

    asyncio.run(scenario())
    (record,) = Ledger(duckdb_warehouse).runs()
    assert record.trigger == TriggerKind.SCHEDULE
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert record.run_id.startswith("schedule-"), (
        f"the tick ran as {record.run_id!r}, not under the contract's id for it"
    )


class WindowProbeStep(ref.ReferenceELStep):
    """Records the window of every request it runs for (the worker runs in this process)."""

    windows: ClassVar[list] = []

    def run(self, request, warehouse, report=silent):  # type: ignore[override]
        WindowProbeStep.windows.append(request.window)
        return super().run(request, warehouse, report)


def test_a_schedule_backfill_is_a_window_run_and_an_on_time_tick_is_not(
    tmp_path: Path, duckdb_warehouse, temporal_server
) -> None:
    """`temporal schedule backfill` of a past tick: the run covers [previous tick, tick) as
    RunRequest.window, under the contract's id for the tick; a tick fired now has no window."""
    from stacks_orch_temporal.backfill import backfill_window
    from temporal_backfill import backfill, window_cron

    spec = ref.reference_stack(tmp_path / "src", name="backfilled")
    orders = spec.step("orders")
    probe = WindowProbeStep("orders", orders.source, "orders")
    spec = spec.model_copy(update={"el_steps": (spec.step("customers"), probe)})
    window = Window(
        start=datetime(2024, 1, 1, 0, tzinfo=UTC), end=datetime(2024, 1, 1, 12, tzinfo=UTC)
    )
    WindowProbeStep.windows.clear()
    record = backfill(temporal_server.address, spec, window, duckdb_warehouse, StepOptions())
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert WindowProbeStep.windows and set(WindowProbeStep.windows) == {window}  # retries too
    assert record.trigger == TriggerKind.SCHEDULE
    cron = spec.model_copy(update={"triggers": (window_cron(window),)})
    tick = cron_token(window.end)
    assert record.run_id == trigger_request(cron, cron.triggers[0], tick).run_id
    assert Ledger(duckdb_warehouse).get(record.run_id) == record
    on_time = window.end + timedelta(seconds=5)
    assert backfill_window(cron.triggers[0], window.end, on_time) is None
