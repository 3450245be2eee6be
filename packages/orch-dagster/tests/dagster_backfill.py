"""Backfill a window through Dagster's time partitions: the stack's assets partitioned by hour,
the window's hours as one partition range (the single run ``BackfillPolicy.single_run`` makes a
backfill launch), its ledger row written by the stack's ledger sensor as the daemon would."""

from __future__ import annotations

from datetime import timedelta

from stacks_contract.models import RunRecord, StackSpec, Window
from stacks_contract.warehouse import Warehouse
from stacks_core.ledger import Ledger
from stacks_orch_dagster import TAG_RUN_ID, build_definitions
from stacks_orch_dagster.keys import op_name


def fire(sensor, instance, run_id: str, kind) -> None:
    """Evaluate a run-status sensor on the run's event of ``kind``, as the daemon would."""
    from dagster import build_run_status_sensor_context

    (rec,) = instance.get_records_for_run(run_id, of_type=kind).records
    sensor(
        build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=rec.event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run_id),
        )
    )


def backfill(stack: StackSpec, window: Window, warehouse: Warehouse) -> tuple[RunRecord, dict]:
    """The ledger's record of the backfill run, and the Dagster run's tags."""
    from dagster import DagsterEventType, DagsterInstance, HourlyPartitionsDefinition

    fmt = "%Y-%m-%d-%H:%M"
    hourly = HourlyPartitionsDefinition(start_date=window.start.strftime(fmt))
    sd = build_definitions(stack, warehouse, partitions=hourly)
    sensor = sd.defs.resolve_sensor_def(f"{op_name(stack.name)}_ledger_succeeded")
    last = window.end - timedelta(hours=1)
    with DagsterInstance.ephemeral() as instance:
        result = sd.defs.resolve_job_def(sd.job_name).execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": window.start.strftime(fmt),
                "dagster/asset_partition_range_end": last.strftime(fmt),
            },
            raise_on_error=False,
        )
        kind = DagsterEventType.RUN_SUCCESS if result.success else DagsterEventType.RUN_FAILURE
        if not result.success:
            sensor = sd.defs.resolve_sensor_def(f"{op_name(stack.name)}_ledger_failed")
        fire(sensor, instance, result.run_id, kind)
        tags = dict(instance.get_run_by_id(result.run_id).tags)
    record = Ledger(warehouse).get(tags[TAG_RUN_ID])
    assert record is not None, "the backfill run has no ledger row"
    return record, tags
