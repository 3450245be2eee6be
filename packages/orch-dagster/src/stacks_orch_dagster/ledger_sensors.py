"""The run ledger for runs Dagster launches itself (schedules, sensors, the UI, ``dagster asset
materialize``).

:meth:`DagsterOrchestrator.run` writes its own ledger rows. A run Dagster launches has no such
caller, so three run-status sensors (on by default) write its row instead: ``running`` when it
starts, then ``succeeded``/``failed`` with rows per table (from the EL assets' materialization
metadata), models built and dbt tests passed/failed (from asset check results).

They watch every run of the instance (``monitor_all_code_locations``): a run started outside any
code location (``dagster asset materialize``, ``materialize()``) belongs to none, and Dagster's
default would skip it. Which runs are this code location's is decided by the run's tags: its
stack and its warehouse (:data:`.runstate.TAG_WAREHOUSE`), set by the schedule or sensor that
requested it, by the stack's job, or by the run's first asset (runs without stacks tags).
A re-execution (Dagster's "re-execute from failure") keeps its parent's stacks run id, so it
updates the same ledger row; the row then totals every run of the re-execution group.
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
    RunStatus,
    StackSpec,
    TestResult,
    TransformResult,
    utcnow,
)
from stacks_contract.warehouse import Warehouse, redact
from stacks_core.ledger import Ledger

from stacks_orch_dagster.failures import AssetStepFailed
from stacks_orch_dagster.keys import op_name
from stacks_orch_dagster.runstate import (
    TAG_RECORDED,
    TAG_RUN_ID,
    TAG_STACK,
    TAG_WAREHOUSE,
    derived_run_id,
    request_from_tags,
    warehouse_tag,
)

ORCHESTRATOR = "dagster"
#: how often the daemon evaluates the ledger sensors: a row lags its run by about this much
LEDGER_SENSOR_SECONDS = 5


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
    run_id = tags.get(TAG_RUN_ID) or derived_run_id(instance, dagster_run.run_id)
    request = request_from_tags(tags, run_id, stack)
    trigger = request.trigger
    group = _run_group(instance, dagster_run)
    stats = instance.get_run_stats(dagster_run.run_id)
    first = instance.get_run_stats(group[0].run_id) if len(group) > 1 else stats
    started = _ts(first.start_time) or _ts(first.launch_time) or utcnow()
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
    models: dict[str, ModelResult] = {}
    tests: dict[str, TestResult] = {}
    # oldest run first: a re-execution's outcome of a node replaces its parent's; rows add up
    events = [
        (run.run_id, e)
        for run in group
        for e in _events(
            instance,
            run.run_id,
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.ASSET_CHECK_EVALUATION,
        )
    ]
    seen: set[tuple[str, Any]] = set()
    for dagster_run_id, event in events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.step_materialization_data.materialization
            # a run over a range of partitions materializes each asset once per partition,
            # each with the run's metadata: count it once
            if (dagster_run_id, mat.asset_key) in seen:
                continue
            seen.add((dagster_run_id, mat.asset_key))
            meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
            if mat.asset_key in transform_keys:
                name = transform_keys[mat.asset_key]
                models[name] = ModelResult(name=name, status=NodeStatus.SUCCESS)
                continue
            step = str(meta.get("stacks/step", ".".join(mat.asset_key.path)))
            rows = loads.setdefault(step, {})
            if "rows_per_table" in meta:  # dlt: one asset, its child tables included
                per_table = json.loads(meta["rows_per_table"]).items()
                for k, n in per_table:
                    rows[k] = rows.get(k, 0) + int(n)
            elif "rows" in meta:
                table = ".".join(mat.asset_key.path)
                rows[table] = rows.get(table, 0) + int(meta["rows"])
        else:
            data = event.event_specific_data
            tests[data.check_name] = TestResult(
                name=data.check_name,
                status=NodeStatus.PASS if data.passed else NodeStatus.FAIL,
            )
    finished = _ts(stats.end_time) or utcnow()
    transform = None
    if models or tests:
        transform = TransformResult(
            run_id=run_id,
            models=tuple(models.values()),
            tests=tuple(tests.values()),
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


def _run_group(instance: Any, dagster_run: Any) -> list[Any]:
    """The run and, for a re-execution, the runs of its group (Dagster's root/parent run id
    tags): oldest first, up to this one."""
    from dagster import RunsFilter

    root = dagster_run.tags.get("dagster/root_run_id")
    if not root:
        return [dagster_run]
    group = {r.run_id: r for r in instance.get_runs(RunsFilter(tags={"dagster/root_run_id": root}))}
    parent = instance.get_run_by_id(root)
    if parent is not None:
        group[root] = parent
    group[dagster_run.run_id] = dagster_run
    ordered = sorted(group.values(), key=lambda r: (_created(instance, r.run_id), r.run_id))
    cut = [r.run_id for r in ordered].index(dagster_run.run_id) + 1
    return ordered[:cut]


def _created(instance: Any, run_id: str) -> float:
    record = instance.get_run_record_by_id(run_id)
    return record.create_timestamp.timestamp() if record is not None else 0.0


def ledger_sensors(
    spec: StackSpec, warehouse: Warehouse, transform_keys: Mapping[Any, str]
) -> list[Any]:
    """``<stack>_ledger_started`` / ``_succeeded`` / ``_failed``: the run ledger of the runs
    Dagster launches for this stack and warehouse (see the module docstring)."""
    from dagster import DagsterRunStatus, DefaultSensorStatus, run_status_sensor

    wtag = warehouse_tag(warehouse)
    base = op_name(spec.name)

    def ours(run: Any) -> bool:
        tags = run.tags
        if tags.get(TAG_RECORDED):  # an in-process run (stacks run) records itself
            return False
        return tags.get(TAG_STACK) == spec.name and tags.get(TAG_WAREHOUSE) == wtag

    def write(context: Any, status: RunStatus) -> None:
        run = context.dagster_run
        if not ours(run):
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
        ledger = Ledger(warehouse)
        if status == RunStatus.RUNNING:
            # the started sensor may be evaluated after the run ended (the daemon was busy):
            # a finished row stays finished; a re-execution marks its row running again
            known = ledger.get(record.run_id)
            if known is not None and known.status != RunStatus.RUNNING:
                if not run.tags.get("dagster/parent_run_id"):
                    return
                if context.instance.get_run_by_id(run.run_id).is_finished:
                    return
        ledger.record(record)

    common: dict[str, Any] = {
        "default_status": DefaultSensorStatus.RUNNING,
        "monitor_all_code_locations": True,
        "minimum_interval_seconds": LEDGER_SENSOR_SECONDS,
    }

    @run_status_sensor(
        run_status=DagsterRunStatus.STARTED,
        name=f"{base}_ledger_started",
        description=f"Writes a 'running' row to the run ledger of stack {spec.name!r}.",
        **common,
    )
    def started(context) -> None:
        write(context, RunStatus.RUNNING)

    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name=f"{base}_ledger_succeeded",
        description=(
            f"Records a succeeded run of stack {spec.name!r} (rows per table, models, tests) "
            "in its run ledger."
        ),
        **common,
    )
    def succeeded(context) -> None:
        write(context, RunStatus.SUCCEEDED)

    @run_status_sensor(
        run_status=DagsterRunStatus.FAILURE,
        name=f"{base}_ledger_failed",
        description=f"Records a failed run of stack {spec.name!r} and its error in its run ledger.",
        **common,
    )
    def failed(context) -> None:
        write(context, RunStatus.FAILED)

    return [started, succeeded, failed]
