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
    sensor = defs.resolve_sensor_def("reference_on_new_files_in_customers")
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
    sensor = defs.resolve_sensor_def("reference_on_orders_change")
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


def test_jobs_schedules_and_sensors_are_named_after_the_stack_and_trigger(defs) -> None:
    """What the UI lists: names a user can read, not schedule_0 or __ephemeral_asset_job__."""
    assert [s.name for s in defs.schedules] == ["reference_daily_at_0600"]
    assert sorted(s.name for s in defs.sensors) == [
        "reference_ledger_failed",
        "reference_ledger_started",
        "reference_ledger_succeeded",
        "reference_on_new_files_in_customers",
        "reference_on_orders_change",
    ]
    jobs = {s.name: s.job_name for s in defs.schedules}
    jobs.update({s.name: s.job_name for s in defs.sensors if s.has_jobs})
    assert jobs == {
        "reference_daily_at_0600": "reference",
        "reference_on_new_files_in_customers": "reference_customers_and_downstream",
        "reference_on_orders_change": "reference_orders_and_downstream",
    }


@pytest.mark.parametrize(
    ("cron", "timezone", "slug"),
    [
        ("0 6 * * *", "UTC", "daily_at_0600"),
        ("15 * * * *", "UTC", "hourly_at_15"),
        ("*/15 * * * *", "UTC", "every_15_x_x_x_x"),
        ("30 2 * * 1", "Europe/Berlin", "30_2_x_x_1_europe_berlin"),
    ],
)
def test_a_cron_trigger_s_name_reads_like_its_schedule(cron, timezone, slug) -> None:
    from stacks_orch_dagster.keys import cron_slug

    assert cron_slug(CronTrigger(cron=cron, timezone=timezone)) == slug


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


def test_with_partitions_a_tick_requests_the_partition_it_closes(
    stack: StackSpec, duckdb_warehouse
) -> None:
    from dagster import DailyPartitionsDefinition, build_schedule_context

    daily = DailyPartitionsDefinition(start_date="2026-01-01")
    with pytest.raises(ConfigError, match="cannot run partitioned assets"):
        build_definitions(stack, duckdb_warehouse, partitions=daily)
    cron_only = stack.model_copy(update={"triggers": stack.triggers[:1]})
    defs = build_definitions(cron_only, duckdb_warehouse, partitions=daily).defs
    (schedule,) = list(defs.schedules)
    tick = datetime(2026, 1, 3, 6, 0, tzinfo=UTC)
    repo = defs.get_repository_def()
    ctx = build_schedule_context(scheduled_execution_time=tick, repository_def=repo)
    req = _single(schedule.evaluate_tick(ctx))
    assert req.partition_key == "2026-01-02"
    assert req.tags[TAG_TRIGGER] == TriggerKind.SCHEDULE.value
