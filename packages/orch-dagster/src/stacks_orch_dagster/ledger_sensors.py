"""The run ledger for runs Dagster launches itself (schedules, sensors, the UI).

:meth:`DagsterOrchestrator.run` writes its own ledger rows. A run started by ``dagster dev`` has
no such caller, so three run-status sensors (on by default) write its row instead: ``running``
when it starts, then ``succeeded``/``failed`` with rows per table (from the EL assets'
materialization metadata), models built and dbt tests passed/failed (from asset check results).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stacks_contract.models import (
    LoadResult,
    ModelResult,
    NodeStatus,
    RunRecord,
    RunRequest,
    RunStatus,
    StackSpec,
    TestResult,
    TransformResult,
    TriggerKind,
    utcnow,
)
from stacks_contract.warehouse import Warehouse, redact
from stacks_core.ledger import Ledger

from stacks_orch_dagster.failures import AssetStepFailed
from stacks_orch_dagster.runstate import TAG_RECORDED, TAG_RUN_ID, TAG_STACK, TAG_TRIGGER

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
            if getattr(info, "cls_name", None) == AssetStepFailed.__name__ and lines:
                # our assets raise the step's one sentence: "<class path>: <sentence>"
                return lines[0].split(": ", 1)[-1]
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
    transform_keys: Mapping[Any, str],
    transform_step: str = "transform",
    error: str | None = None,
) -> RunRecord:
    """The ledger record of a Dagster run, rebuilt from its tags and events: the EL assets'
    row metadata become :class:`LoadResult` s, the transform's materializations and checks a
    :class:`TransformResult`, and :meth:`RunRecord.from_results` totals them, exactly as for a
    run :meth:`DagsterOrchestrator.run` started itself."""
    from dagster import DagsterEventType

    tags = dict(dagster_run.tags)
    try:
        trigger = TriggerKind(tags.get(TAG_TRIGGER, TriggerKind.MANUAL.value))
    except ValueError:
        trigger = TriggerKind.MANUAL
    run_id = tags.get(TAG_RUN_ID) or f"dagster-{dagster_run.run_id}"
    request = RunRequest(run_id=run_id, stack=tags.get(TAG_STACK, stack), trigger=trigger)
    stats = instance.get_run_stats(dagster_run.run_id)
    started = _ts(stats.start_time) or _ts(stats.launch_time) or utcnow()
    if status == RunStatus.RUNNING:
        return RunRecord(
            run_id=run_id,
            stack=request.stack,
            orchestrator=ORCHESTRATOR,
            trigger=trigger,
            status=status,
            started_at=started,
        )
    loads: dict[str, dict[str, int]] = {}
    models: list[ModelResult] = []
    tests: list[TestResult] = []
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
                models.append(
                    ModelResult(name=transform_keys[mat.asset_key], status=NodeStatus.SUCCESS)
                )
                continue
            step = str(meta.get("stacks/step", ".".join(mat.asset_key.path)))
            rows = loads.setdefault(step, {})
            if "rows_per_table" in meta:  # dlt: one asset, its child tables included
                rows.update({k: int(n) for k, n in json.loads(meta["rows_per_table"]).items()})
            elif "rows" in meta:
                rows[".".join(mat.asset_key.path)] = int(meta["rows"])
        else:
            data = event.event_specific_data
            tests.append(
                TestResult(
                    name=data.check_name,
                    status=NodeStatus.PASS if data.passed else NodeStatus.FAIL,
                )
            )
    finished = _ts(stats.end_time) or utcnow()
    transform = None
    if models or tests:
        transform = TransformResult(
            run_id=run_id,
            models=tuple(models),
            tests=tuple(tests),
            started_at=started,
            finished_at=finished,
        )
    return RunRecord.from_results(
        request,
        stack=request.stack,
        orchestrator=ORCHESTRATOR,
        started_at=started,
        loads=[
            LoadResult(step=s, run_id=run_id, rows=r, started_at=started, finished_at=finished)
            for s, r in loads.items()
        ],
        transform=transform,
        transform_step=transform_step,
        error=error if status == RunStatus.FAILED else None,
        finished_at=finished,
    )


def ledger_sensors(
    spec: StackSpec, warehouse: Warehouse, transform_keys: Mapping[Any, str]
) -> list[Any]:
    from dagster import DagsterRunStatus, DefaultSensorStatus, run_status_sensor

    def write(context: Any, status: RunStatus) -> None:
        run = context.dagster_run
        if run.tags.get(TAG_RECORDED):  # an in-process run (stacks run) records itself
            return
        error = None
        if status == RunStatus.FAILED:
            error = redact(failure_sentence(context.instance, run.run_id), warehouse)
        record = record_from_run(
            context.instance,
            run,
            status,
            stack=spec.name,
            transform_keys=transform_keys,
            transform_step=spec.transform.name if spec.transform is not None else "transform",
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
