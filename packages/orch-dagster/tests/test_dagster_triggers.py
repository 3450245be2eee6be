"""Schedules and sensors from a stack's triggers, ticked with Dagster's own test contexts."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context
from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    Freshness,
    SourceChangeTrigger,
    StackSpec,
    TriggerKind,
)
from stacks_contract.ports import ChangeProbe
from stacks_orch_dagster import TAG_RUN_ID, TAG_TRIGGER, build_definitions
from stacks_testing import reference as ref


class VersionedStep(ref.ReferenceELStep, ChangeProbe):
    """A reference step whose source version is the source file's content length and mtime."""

    incremental: ClassVar[bool] = True

    def source_version(self) -> str:
        st = self.source.stat()
        return f"{st.st_size}-{st.st_mtime_ns}"


@pytest.fixture
def stack(tmp_path: Path) -> StackSpec:
    base = ref.reference_stack(tmp_path / "src")
    orders = base.step("orders")
    versioned = VersionedStep("orders", orders.source, "orders")
    landing = tmp_path / "landing"
    landing.mkdir()
    return base.model_copy(
        update={
            "el_steps": (base.step("customers"), versioned),
            "triggers": (
                CronTrigger(cron="0 6 * * *"),
                FileArrivalTrigger(path=str(landing), pattern="*.jsonl", steps=("customers",)),
                SourceChangeTrigger(step="orders", poll_seconds=30),
            ),
            "freshness": Freshness(max_lag=timedelta(hours=26)),
        }
    )


@pytest.fixture
def defs(stack: StackSpec, duckdb_warehouse):
    return build_definitions(stack, duckdb_warehouse).defs


def _single(result) -> object:
    requests = result.run_requests
    assert len(requests) == 1, requests
    return requests[0]


def test_cron_schedule_requests_a_whole_stack_run_with_one_run_id_per_tick(defs) -> None:
    from dagster import build_schedule_context

    (schedule,) = list(defs.schedules)
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "UTC"
    tick = datetime(2026, 1, 2, 6, 0, tzinfo=UTC)
    ids = set()
    for at in (tick, tick, tick + timedelta(days=1)):
        data = schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=at))
        req = _single(data)
        assert req.tags[TAG_TRIGGER] == TriggerKind.SCHEDULE.value
        assert req.run_key == req.tags[TAG_RUN_ID]  # Dagster dedups a re-evaluated tick
        ids.add(req.tags[TAG_RUN_ID])
    assert len(ids) == 2, "each tick needs its own stacks run id, the same on re-evaluation"
    job = defs.resolve_job_def(schedule.job_name)
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert keys == {
        "raw/customers",
        "raw/orders",
        "analytics/customer_orders",
        "analytics/top_customers",
    }


def test_file_arrival_sensor_fires_once_per_new_file(defs, tmp_path: Path) -> None:
    sensor = next(s for s in defs.sensors if s.name.startswith("file_arrival"))
    landing = tmp_path / "landing"
    with DagsterInstance.ephemeral() as instance:
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=None))
        assert not first.run_requests and first.skip_message, "no files yet: skip"

        (landing / "a.jsonl").write_text("{}\n")
        (landing / "ignored.csv").write_text("x\n")
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=None))
        req = _single(tick)
        assert req.tags[TAG_TRIGGER] == TriggerKind.FILE_ARRIVAL.value
        assert json.loads(req.tags["stacks/files"]) == ["a.jsonl"]

        again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor))
        assert not again.run_requests, "the same file must not trigger twice"

        b = landing / "b.jsonl"
        b.write_text("{}\n")
        later = (landing / "a.jsonl").stat().st_mtime + 5
        os.utime(b, (later, later))
        third = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor))
        assert json.loads(_single(third).tags["stacks/files"]) == ["b.jsonl"]
    job = defs.resolve_job_def(sensor.job_name)
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    # the customers step and what depends on it, not the orders step
    assert keys == {"raw/customers", "analytics/customer_orders", "analytics/top_customers"}


def test_source_change_sensor_polls_the_change_probe(defs, stack: StackSpec) -> None:
    sensor = next(s for s in defs.sensors if s.name == "orders_changed")
    assert sensor.minimum_interval_seconds == 30
    with DagsterInstance.ephemeral() as instance:
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=None))
        req = _single(first)
        assert req.tags[TAG_TRIGGER] == TriggerKind.SOURCE_CHANGE.value
        same = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
        assert not same.run_requests and "unchanged" in (same.skip_message or "")

        ref.ReferenceSource(stack.step("orders").source).append(
            {"id": 500, "customer_id": 1, "amount": 1.0, "status": "placed"}
        )
        changed = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
        assert _single(changed).run_key != req.run_key
    job = defs.resolve_job_def(sensor.job_name)
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert keys == {"raw/orders", "analytics/customer_orders", "analytics/top_customers"}


def test_freshness_bound_is_a_policy_on_every_el_asset(defs) -> None:
    graph = defs.resolve_asset_graph()
    for key in (AssetKey(["raw", "customers"]), AssetKey(["raw", "orders"])):
        policy = graph.get(key).freshness_policy
        assert policy is not None, f"{key} has no freshness policy"
        assert policy.fail_window.to_timedelta() == timedelta(hours=26)
    assert graph.get(AssetKey(["analytics", "top_customers"])).freshness_policy is None


class UnprobedStep(ref.ReferenceELStep):
    """A step whose source cannot say whether it changed."""

    source_version = None  # type: ignore[assignment]


def test_source_change_on_a_step_without_a_probe_is_a_config_error(
    stack: StackSpec, duckdb_warehouse
) -> None:
    customers = stack.step("customers")
    plain = UnprobedStep("customers", customers.source, "customers")
    bad = stack.model_copy(
        update={
            "el_steps": (plain, stack.step("orders")),
            "triggers": (SourceChangeTrigger(step="customers"),),
        }
    )
    with pytest.raises(ConfigError, match="customers"):
        build_definitions(bad, duckdb_warehouse)
