"""A stack's triggers as Dagster schedules and sensors, rendering :mod:`stacks_contract.triggers`.

What counts as new and what a firing runs is the contract's; Dagster keeps the cursors (sensor
cursors) and dedups by run key. Every request carries the contract's deterministic run id in its
tags, so a sensor re-evaluated from a stale cursor names the same run, not a second one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    RunRequest,
    SourceChangeTrigger,
    StackSpec,
    Trigger,
    utcnow,
)
from stacks_contract.selection import resolve
from stacks_contract.triggers import (
    cron_token,
    probe_source,
    scan_files,
    trigger_request,
    trigger_selectors,
)

from stacks_orch_dagster.keys import cron_slug, op_name
from stacks_orch_dagster.runstate import TAG_SELECT, TAG_STACK, TAG_WAREHOUSE, tags_for

if TYPE_CHECKING:
    from stacks_orch_dagster.definitions import StackDefinitions

__all__ = [
    "cron_schedule",
    "file_arrival_sensor",
    "source_change_sensor",
    "trigger_definitions",
    "trigger_names",
]


def _job_for(
    stack: StackSpec, sd: StackDefinitions, trigger: Trigger, name: str, warehouse_tag: str
) -> Any:
    from dagster import define_asset_job

    selectors = trigger_selectors(stack, trigger)
    return define_asset_job(
        name,
        selection=sd.asset_selection(resolve(stack, selectors)),
        tags={TAG_STACK: stack.name, TAG_WAREHOUSE: warehouse_tag},
        description=f"{', '.join(selectors)} of stack {stack.name!r}.",
    )


def _dagster_request(request: RunRequest, run_key: str, warehouse_tag: str) -> Any:
    from dagster import RunRequest as DagsterRunRequest

    tags = tags_for(request, warehouse_tag)
    if request.select:
        tags[TAG_SELECT] = json.dumps(list(request.select))
    return DagsterRunRequest(run_key=run_key, tags=tags)


def trigger_names(stack: StackSpec) -> dict[int, tuple[str, str | None]]:
    """Trigger index -> (its schedule or sensor, the job it runs when not the whole stack's),
    named after the stack and the trigger: ``dagster_dlt_dbt_daily_at_0600``,
    ``dagster_dlt_dbt_on_shop_change`` running ``dagster_dlt_dbt_shop_and_downstream``."""
    base = op_name(stack.name)
    names: dict[int, tuple[str, str | None]] = {}
    for i, trig in enumerate(stack.triggers):
        if isinstance(trig, CronTrigger):
            names[i] = (f"{base}_{cron_slug(trig)}", None)
        elif isinstance(trig, FileArrivalTrigger):
            what = "_".join(trig.steps) if trig.steps else None
            job = op_name(f"{base}_{what}_and_downstream") if what else None
            names[i] = (op_name(f"{base}_on_new_files_in_{what or 'all'}"), job)
        else:
            names[i] = (
                op_name(f"{base}_on_{trig.step}_change"),
                op_name(f"{base}_{trig.step}_and_downstream"),
            )
    # two triggers of one kind on the same thing keep their position to stay apart
    taken: dict[str, int] = {}
    for name, _job in names.values():
        taken[name] = taken.get(name, 0) + 1
    return {
        i: (f"{name}_{i}" if taken[name] > 1 else name, job) for i, (name, job) in names.items()
    }


def trigger_definitions(
    stack: StackSpec,
    sd: StackDefinitions,
    all_job: Any,
    warehouse_tag: str,
    partitions: Any = None,
) -> tuple[list[Any], list[Any], list[Any]]:
    """(jobs, schedules, sensors) for ``stack.triggers``, named by :func:`trigger_names`;
    ``warehouse_tag`` goes on every run they request (see :data:`.runstate.TAG_WAREHOUSE`).
    With ``partitions``, a schedule requests the partition its tick closes; event triggers
    (files, a source change) have no window to ask for, so they are a ConfigError."""
    if partitions is not None:
        events = [t.kind for t in stack.triggers if not isinstance(t, CronTrigger)]
        if events:
            from stacks_contract.errors import ConfigError

            raise ConfigError(
                f"Stack {stack.name!r} has {', '.join(events)} trigger(s), which request no "
                "time window: they cannot run partitioned assets (leave partitions unset)."
            )
    jobs: dict[str, Any] = {}
    schedules: list[Any] = []
    sensors: list[Any] = []
    tag = warehouse_tag
    for i, (name, job_name) in trigger_names(stack).items():
        trig = stack.triggers[i]
        if isinstance(trig, SourceChangeTrigger):
            probe_source_check(stack, trig)
        job = all_job
        if job_name is not None:
            if job_name not in jobs:
                jobs[job_name] = _job_for(stack, sd, trig, job_name, warehouse_tag)
            job = jobs[job_name]
        if isinstance(trig, CronTrigger):
            schedules.append(
                cron_schedule(stack, trig, job, name=name, warehouse_tag=tag, partitions=partitions)
            )
        elif isinstance(trig, FileArrivalTrigger):
            sensors.append(file_arrival_sensor(stack, trig, job, name=name, warehouse_tag=tag))
        elif isinstance(trig, SourceChangeTrigger):
            sensors.append(source_change_sensor(stack, trig, job, name=name, warehouse_tag=tag))
    return list(jobs.values()), schedules, sensors


def probe_source_check(stack: StackSpec, trig: SourceChangeTrigger) -> None:
    """Fail at definition time when the watched step cannot report a version."""
    from stacks_contract.errors import ConfigError

    step = stack.step(trig.step) if trig.step in {s.name for s in stack.el_steps} else None
    if step is None or not callable(getattr(step, "source_version", None)):
        raise ConfigError(
            f"A source-change trigger watches EL step {trig.step!r}, which cannot report a "
            "source version (it does not implement ChangeProbe)."
        )


def cron_schedule(
    stack: StackSpec,
    trig: CronTrigger,
    job: Any,
    *,
    name: str,
    warehouse_tag: str = "",
    partitions: Any = None,
) -> Any:
    from dagster import schedule

    @schedule(
        name=name,
        cron_schedule=trig.cron,
        execution_timezone=trig.timezone,
        job=job,
        description=f"Baseline run of stack {stack.name!r} ({trig.cron} {trig.timezone}).",
    )
    def _schedule(context) -> Any:
        try:
            tick = context.scheduled_execution_time
        except Exception:  # a hand-built context (a test, the UI's "test schedule") may have none
            tick = None
        if tick is None:
            tick = utcnow().replace(second=0, microsecond=0)
        request = trigger_request(stack, trig, cron_token(tick))
        dagster_request = _dagster_request(request, request.run_id, warehouse_tag)
        if partitions is not None:  # the partition this tick closes: its window
            from dagster import SkipReason, partition_loading_context

            with partition_loading_context(effective_dt=tick):
                key = partitions.get_last_partition_key()
            if key is None:
                return SkipReason(f"no partition of {name} has ended by {tick}")
            return dagster_request.with_replaced_attrs(partition_key=key)
        return dagster_request

    return _schedule


def file_arrival_sensor(
    stack: StackSpec, trig: FileArrivalTrigger, job: Any, *, name: str, warehouse_tag: str = ""
) -> Any:
    from dagster import SensorResult, SkipReason, sensor

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=30,
        description=f"Runs when files matching {trig.pattern!r} land in {trig.path}.",
    )
    def _sensor(context) -> Any:
        scan = scan_files(trig, context.cursor)
        if not scan.fires:
            return SkipReason(f"no new files matching {trig.pattern!r} in {trig.path}")
        request = trigger_request(stack, trig, scan.cursor or "")
        dagster_request = _dagster_request(request, request.run_id, warehouse_tag)
        dagster_request.tags["stacks/files"] = json.dumps(list(scan.new)[:20])
        return SensorResult(run_requests=[dagster_request], cursor=scan.cursor)

    return _sensor


def source_change_sensor(
    stack: StackSpec, trig: SourceChangeTrigger, job: Any, *, name: str, warehouse_tag: str = ""
) -> Any:
    from dagster import SensorResult, SkipReason, sensor

    step = stack.step(trig.step)

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=trig.poll_seconds,
        description=f"Runs {step.name!r} and downstream when its source reports a change.",
    )
    def _sensor(context) -> Any:
        probe = probe_source(step, context.cursor)
        if not probe.changed:
            return SkipReason(f"source of {step.name!r} unchanged (version {probe.version})")
        request = trigger_request(stack, trig, probe.version)
        dagster_request = _dagster_request(request, request.run_id, warehouse_tag)
        dagster_request.tags["stacks/source_version"] = probe.version[:200]
        return SensorResult(run_requests=[dagster_request], cursor=probe.cursor)

    return _sensor
