"""orch-dagster against the test kit's suites (reference steps, through the ports)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dagster_backfill import backfill
from stacks_contract.models import RunRecord, RunRequest, StackSpec, Trigger, TriggerKind, Window
from stacks_contract.ports import Orchestrator, Transform
from stacks_contract.warehouse import Warehouse
from stacks_orch_dagster import DagsterOrchestrator, build_definitions
from stacks_orch_dagster.runstate import TAG_RUN_ID, TAG_SELECT, TAG_TRIGGER
from stacks_testing.suites import (
    BaseOrchestratorSuite,
    BaseTriggerSuite,
    OrchestratorHarness,
    TriggerHarness,
)


class DagsterHarness(OrchestratorHarness):
    def make_orchestrator(self) -> Orchestrator:
        # one quick retry keeps the failing-step test short while still exercising RetryPolicy
        return DagsterOrchestrator(retries=1, retry_delay=0.2)

    def orchestrator_factory(self) -> str:
        return "stacks_orch_dagster:DagsterOrchestrator"

    def dbt_transform(self, project: Path, schema: str) -> Transform:
        """dbt as dagster-dbt assets (the [dbt] extra): Dagster's own selection of its models
        and asset checks decides which tests run."""
        from stacks_transform_dbt import DbtTransform

        return DbtTransform(project, schema=schema)

    def backfill(self, stack: StackSpec, window: Window, warehouse: Warehouse) -> RunRecord:
        """A backfill of the window's hourly partitions: one run (see dagster_backfill)."""
        return backfill(stack, window, warehouse)[0]


class TestDagsterConformance(BaseOrchestratorSuite):
    @pytest.fixture
    def orchestrator_harness(self) -> OrchestratorHarness:
        return DagsterHarness()


class DagsterTriggerHarness(TriggerHarness):
    """Ticks the stack's Dagster schedule or sensor with Dagster's own test contexts, from fresh
    definitions each time (a restarted daemon), and reads the contract request from the tags."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse

    def fire(
        self, stack: StackSpec, trigger: Trigger, cursor: str | None, now: datetime
    ) -> tuple[list[RunRequest], str | None]:
        import json

        from dagster import DagsterInstance, build_schedule_context, build_sensor_context

        index = stack.triggers.index(trigger)
        sd = build_definitions(stack, self.warehouse)
        defs, name = sd.defs, sd.trigger_names[index]
        if trigger.kind == "cron":
            schedule = defs.resolve_schedule_def(name)
            with DagsterInstance.ephemeral() as instance:
                ctx = build_schedule_context(instance=instance, scheduled_execution_time=now)
                data = schedule.evaluate_tick(ctx)
            requests, new_cursor = list(data.run_requests or []), cursor
            if requests:
                new_cursor = requests[0].run_key
        else:
            sensor = defs.resolve_sensor_def(name)
            with DagsterInstance.ephemeral() as instance:
                ctx = build_sensor_context(instance=instance, cursor=cursor)
                data = sensor.evaluate_tick(ctx)
            requests, new_cursor = list(data.run_requests or []), data.cursor
        out = [
            RunRequest(
                run_id=r.tags[TAG_RUN_ID],
                stack=stack.name,
                trigger=TriggerKind(r.tags[TAG_TRIGGER]),
                select=tuple(json.loads(r.tags.get(TAG_SELECT, "[]"))),
            )
            for r in requests
        ]
        return out, new_cursor


class TestDagsterTriggerConformance(BaseTriggerSuite):
    @pytest.fixture
    def trigger_harness(self, warehouse) -> TriggerHarness:
        return DagsterTriggerHarness(warehouse)
