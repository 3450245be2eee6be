"""The rendering of a stack for Airflow: schedule, sensor DAGs, retries, no secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr
from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    RunRequest,
    SourceChangeTrigger,
    StackSpec,
    Trigger,
    TriggerKind,
    Window,
)
from stacks_contract.triggers import cron_token, trigger_request
from stacks_orch_airflow.binding import Bound
from stacks_orch_airflow.dag import build_dag
from stacks_orch_airflow.tasks import request_for
from stacks_orch_airflow.triggers import build_trigger_dags, fire_change, fire_files
from stacks_testing import reference as ref
from stacks_testing.suites import BaseTriggerSuite, TriggerHarness


class AirflowTriggers(TriggerHarness):
    """Evaluates what the Airflow rendering evaluates: a scheduled DAG run's request (cron) and
    the sensor DAGs' ``detect`` logic, with the cursor an Airflow Variable would hold."""

    def __init__(self, warehouse) -> None:
        self.warehouse = warehouse

    def fire(
        self, stack: StackSpec, trigger: Trigger, cursor: str | None, now: datetime
    ) -> tuple[list[RunRequest], str | None]:
        binding = Bound(stack, self.warehouse)
        if isinstance(trigger, CronTrigger):
            dag = build_dag(stack, binding)
            assert dag.timetable.summary == trigger.cron
            if cursor == cron_token(now):  # Airflow's last automated run: this tick is done
                return [], cursor
            run = SimpleNamespace(run_type="scheduled", logical_date=now, run_after=now, conf={})
            return [request_for(binding, run)], cron_token(now)
        build_trigger_dags(stack, binding, stack.name)
        fire = fire_files if isinstance(trigger, FileArrivalTrigger) else fire_change
        request, new_cursor = fire(stack, trigger, cursor)
        return ([] if request is None else [request]), new_cursor


class TestAirflowTriggers(BaseTriggerSuite):
    @pytest.fixture
    def trigger_harness(self, duckdb_warehouse) -> TriggerHarness:
        return AirflowTriggers(duckdb_warehouse)


@pytest.fixture
def triggered(tmp_path: Path) -> StackSpec:
    spec = ref.reference_stack(tmp_path / "src")
    return spec.model_copy(
        update={
            "triggers": (
                CronTrigger(cron="0 6 * * *"),
                FileArrivalTrigger(path=str(tmp_path), pattern="*.csv", steps=("orders",)),
                SourceChangeTrigger(step="customers", poll_seconds=30),
            )
        }
    )


def test_cron_is_the_schedule_and_events_are_sensor_dags(triggered, duckdb_warehouse) -> None:
    binding = Bound(triggered, duckdb_warehouse)
    dag = build_dag(triggered, binding)
    assert dag.timetable.summary == "0 6 * * *"
    assert dag.max_active_runs == 1
    files, change = build_trigger_dags(triggered, binding, dag.dag_id)
    assert (files.dag_id, change.dag_id) == ("reference__new_files", "reference__customers_changed")
    wait = files.get_task("wait")
    assert type(wait).__name__ == "FileSensor" and wait.deferrable
    assert [t.task_id for t in files.topological_sort()] == ["wait", "detect", "fire", "commit"]
    sensor = change.get_task("detect")
    assert type(sensor).__name__ == "PythonSensor" and sensor.mode == "reschedule"
    assert sensor.poke_interval == 30
    assert change.get_task("fire").trigger_dag_id == dag.dag_id


def test_every_task_retries_with_backoff(triggered, duckdb_warehouse) -> None:
    dag = build_dag(triggered, Bound(triggered, duckdb_warehouse), retries=3)
    assert len(dag.tasks) == 5
    for task in dag.tasks:
        assert (task.retries, task.retry_exponential_backoff) == (3, True), task.task_id
        assert task.depends_on_past is False
    assert {o.name for o in dag.get_task("el_orders").outlets} == {"raw.orders"}


def test_a_source_change_trigger_needs_a_probe(triggered, duckdb_warehouse) -> None:
    plain = ref.ReferenceELStep("customers", "/nowhere.jsonl", "customers")
    plain.source_version = None  # a step that cannot say whether its source changed
    bad = triggered.model_copy(update={"el_steps": (plain, triggered.step("orders"))})
    with pytest.raises(ConfigError, match="customers"):
        build_trigger_dags(bad, Bound(bad, duckdb_warehouse), "reference")


def test_no_secret_reaches_the_serialized_dag(
    installed_stacks, postgres_warehouse, monkeypatch
) -> None:
    """What the scheduler stores (the serialized DAG, with Cosmos's operator arguments) holds no
    password, although the warehouse URL the DAG was built from carries one."""
    from airflow.serialization.serialized_objects import DagSerialization
    from stacks_contract.models import StackRef
    from stacks_orch_airflow import AirflowOrchestrator

    secret = "pw-not-in-dags"
    wh = postgres_warehouse.model_copy(update={"password": SecretStr(secret)})
    monkeypatch.setenv("STACKS_WAREHOUSE", wh.url())
    dag = AirflowOrchestrator().build(StackRef(stack="airflow-shop"))
    text = json.dumps(DagSerialization.to_dict(dag), default=str)
    assert "dbt_dbt.fct_orders_model_build" in text
    assert secret not in text


def _sdk_dag_run(run_type: str, run_id: str, start: datetime, end: datetime, **extra) -> Any:
    """A DAG run as a task sees it: the task SDK's own model and its own ``DagRunType``."""
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, DagRunType

    return DagRun(
        dag_id="reference",
        run_id=run_id,
        logical_date=start,
        data_interval_start=start,
        data_interval_end=end,
        run_after=end,
        start_date=end,
        end_date=None,
        run_type=DagRunType(run_type),
        state=DagRunState.RUNNING,
        consumed_asset_events=[],
        partition_key=None,
        **extra,
    )


def test_a_scheduled_run_inside_a_task_is_the_cron_triggers_request(
    triggered, duckdb_warehouse
) -> None:
    """The scheduler's 06:00 tick, as the task SDK hands it to ``stacks_start``: the contract's
    deterministic schedule request (not a manual run named after Airflow's run id)."""
    start, end = datetime(2026, 12, 5, 6, tzinfo=UTC), datetime(2026, 12, 6, 6, tzinfo=UTC)
    run = _sdk_dag_run("scheduled", "scheduled__2026-12-05T06:00:00+00:00", start, end)
    request = request_for(Bound(triggered, duckdb_warehouse), run)
    want = trigger_request(triggered, triggered.triggers[0], cron_token(end))
    assert (request.run_id, request.trigger) == (want.run_id, TriggerKind.SCHEDULE)
    assert request.run_id.startswith("schedule-") and request.window is None


def test_a_backfill_run_covers_its_data_interval(triggered, duckdb_warehouse) -> None:
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
    run = _sdk_dag_run("backfill", "backfill__2026-12-01T00:00:00+00:00", start, end)
    request = request_for(Bound(triggered, duckdb_warehouse), run)
    assert request.window == Window(start=start, end=end)
    assert request.trigger == TriggerKind.MANUAL
    assert request.run_id == "backfill__2026-12-01T00:00:00_00:00"
    manual = _sdk_dag_run(
        "manual",
        "manual__1",
        end,
        end,
        conf={"window": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-01T12:00:00Z"}},
    )
    assert request_for(Bound(triggered, duckdb_warehouse), manual).window == Window(
        start=start, end=datetime(2026, 12, 1, 12, tzinfo=UTC)
    )
    plain = _sdk_dag_run("manual", "manual__2", end, end)
    assert request_for(Bound(triggered, duckdb_warehouse), plain).window is None
