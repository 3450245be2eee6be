"""The run ledger for runs Dagster launches itself (schedules, sensors, the UI).

:meth:`DagsterOrchestrator.run` writes its own ledger rows. A run started by ``dagster dev`` has
no such caller, so three run-status sensors (on by default) write its row instead: ``running``
when it starts, then ``succeeded``/``failed`` with rows per table (from the EL assets'
materialization metadata), models built and dbt tests passed/failed (from asset check results).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from stacks_contract.ledger import Ledger
from stacks_contract.models import RunRecord, RunStatus, TriggerKind, utcnow
from stacks_contract.warehouse import Warehouse, redact

from stacks_orch_dagster.runstate import TAG_RUN_ID, TAG_STACK, TAG_TRIGGER

ORCHESTRATOR = "dagster"


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _events(instance: Any, run_id: str, *types: Any) -> list[Any]:
    conn = instance.get_records_for_run(run_id, of_type=set(types))
    return [r.event_log_entry.dagster_event for r in conn.records if r.event_log_entry]


def failure_sentence(instance: Any, run_id: str) -> str:
    """One sentence from the first failed step of a run: the root cause's first line."""
    from dagster import DagsterEventType

    for event in _events(instance, run_id, DagsterEventType.STEP_FAILURE):
        # walk Dagster's wrapper down the cause chain: our assets raise one sentence
        # ("Step 'x' failed: ..."); anything else is described by its root cause
        info, last = event.step_failure_data.error, None
        while info is not None:
            lines = (info.message or "").strip().splitlines()
            if lines and lines[0].startswith("stacks_orch_dagster.definitions.AssetStepFailed"):
                return lines[0].split(": ", 1)[1]
            last, info = info, info.cause
        lines = (last.message if last is not None else "").strip().splitlines()
        return f"Step {event.step_key!r} failed: {lines[0] if lines else 'unknown error'}"
    return "The Dagster run failed."


def record_from_run(
    instance: Any,
    dagster_run: Any,
    status: RunStatus,
    *,
    stack: str,
    transform_keys: set[Any],
    error: str | None = None,
) -> RunRecord:
    """A ledger record built from a finished (or starting) Dagster run's tags and events."""
    from dagster import DagsterEventType

    tags = dict(dagster_run.tags)
    try:
        trigger = TriggerKind(tags.get(TAG_TRIGGER, TriggerKind.MANUAL.value))
    except ValueError:
        trigger = TriggerKind.MANUAL
    stats = instance.get_run_stats(dagster_run.run_id)
    started = _ts(stats.start_time) or _ts(stats.launch_time) or utcnow()
    rows: dict[str, int] = {}
    models = passed = failed = 0
    if status != RunStatus.RUNNING:
        for event in _events(
            instance,
            dagster_run.run_id,
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.ASSET_CHECK_EVALUATION,
        ):
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                mat = event.step_materialization_data.materialization
                meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
                if mat.asset_key in transform_keys:
                    models += 1
                elif "rows_per_table" in meta:  # dlt: one asset, its child tables included
                    rows.update({k: int(n) for k, n in json.loads(meta["rows_per_table"]).items()})
                elif "rows" in meta:
                    rows[".".join(mat.asset_key.path)] = int(meta["rows"])
            else:
                if event.event_specific_data.passed:
                    passed += 1
                else:
                    failed += 1
    return RunRecord(
        run_id=tags.get(TAG_RUN_ID) or f"dagster-{dagster_run.run_id}",
        stack=tags.get(TAG_STACK, stack),
        orchestrator=ORCHESTRATOR,
        trigger=trigger,
        status=status,
        started_at=started,
        finished_at=None if status == RunStatus.RUNNING else (_ts(stats.end_time) or utcnow()),
        rows=rows,
        models_built=models,
        tests_passed=passed,
        tests_failed=failed,
        error=error,
    )


def ledger_sensors(stack: str, warehouse: Warehouse, transform_keys: set[Any]) -> list[Any]:
    from dagster import DagsterRunStatus, DefaultSensorStatus, run_status_sensor

    def write(context: Any, status: RunStatus) -> None:
        run = context.dagster_run
        error = None
        if status == RunStatus.FAILED:
            error = redact(failure_sentence(context.instance, run.run_id), warehouse)
        record = record_from_run(
            context.instance,
            run,
            status,
            stack=stack,
            transform_keys=transform_keys,
            error=error,
        )
        Ledger(warehouse).record(record)

    @run_status_sensor(
        run_status=DagsterRunStatus.STARTED,
        name="stacks_ledger_started",
        default_status=DefaultSensorStatus.RUNNING,
        description="Writes a 'running' row to the stacks run ledger.",
    )
    def started(context) -> None:
        write(context, RunStatus.RUNNING)

    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name="stacks_ledger_succeeded",
        default_status=DefaultSensorStatus.RUNNING,
        description="Records a succeeded run (rows per table, models, tests) in the run ledger.",
    )
    def succeeded(context) -> None:
        write(context, RunStatus.SUCCEEDED)

    @run_status_sensor(
        run_status=DagsterRunStatus.FAILURE,
        name="stacks_ledger_failed",
        default_status=DefaultSensorStatus.RUNNING,
        description="Records a failed run and its error in the run ledger.",
    )
    def failed(context) -> None:
        write(context, RunStatus.FAILED)

    return [started, succeeded, failed]
