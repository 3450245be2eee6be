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

from stacks_orch_dagster.keys import op_name
from stacks_orch_dagster.runstate import TAG_SELECT, tags_for

if TYPE_CHECKING:
    from stacks_orch_dagster.definitions import StackDefinitions

__all__ = ["cron_schedule", "file_arrival_sensor", "source_change_sensor", "trigger_definitions"]


def _job_for(stack: StackSpec, sd: StackDefinitions, trigger: Trigger, name: str) -> Any:
    from dagster import define_asset_job

    selection = resolve(stack, trigger_selectors(stack, trigger))
    return define_asset_job(name, selection=sd.asset_selection(selection))


def _dagster_request(request: RunRequest, run_key: str) -> Any:
    from dagster import RunRequest as DagsterRunRequest

    tags = tags_for(request)
    if request.select:
        tags[TAG_SELECT] = json.dumps(list(request.select))
    return DagsterRunRequest(run_key=run_key, tags=tags)


def trigger_definitions(
    stack: StackSpec, sd: StackDefinitions, all_job: Any
) -> tuple[list[Any], list[Any], list[Any]]:
    """(jobs, schedules, sensors) for ``stack.triggers``."""
    jobs: list[Any] = []
    schedules: list[Any] = []
    sensors: list[Any] = []
    for i, trig in enumerate(stack.triggers):
        if isinstance(trig, CronTrigger):
            schedules.append(cron_schedule(stack, trig, all_job, name=f"schedule_{i}"))
            continue
        if isinstance(trig, FileArrivalTrigger):
            job = all_job
            if trig.steps:
                job = _job_for(stack, sd, trig, op_name(f"files_{i}_" + "_".join(trig.steps)))
                jobs.append(job)
            sensors.append(file_arrival_sensor(stack, trig, job, name=f"file_arrival_{i}"))
        elif isinstance(trig, SourceChangeTrigger):
            probe_source_check(stack, trig)
            job = _job_for(stack, sd, trig, op_name(f"{trig.step}_and_downstream"))
            jobs.append(job)
            sensors.append(
                source_change_sensor(stack, trig, job, name=op_name(f"{trig.step}_changed"))
            )
    return jobs, schedules, sensors


def probe_source_check(stack: StackSpec, trig: SourceChangeTrigger) -> None:
    """Fail at definition time when the watched step cannot report a version."""
    from stacks_contract.errors import ConfigError

    step = stack.step(trig.step) if trig.step in {s.name for s in stack.el_steps} else None
    if step is None or not callable(getattr(step, "source_version", None)):
        raise ConfigError(
            f"A source-change trigger watches EL step {trig.step!r}, which cannot report a "
            "source version (it does not implement ChangeProbe)."
        )


def cron_schedule(stack: StackSpec, trig: CronTrigger, job: Any, *, name: str) -> Any:
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
        return _dagster_request(request, run_key=request.run_id)

    return _schedule


def file_arrival_sensor(stack: StackSpec, trig: FileArrivalTrigger, job: Any, *, name: str) -> Any:
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
        dagster_request = _dagster_request(request, run_key=request.run_id)
        dagster_request.tags["stacks/files"] = json.dumps(list(scan.new)[:20])
        return SensorResult(run_requests=[dagster_request], cursor=scan.cursor)

    return _sensor


def source_change_sensor(
    stack: StackSpec, trig: SourceChangeTrigger, job: Any, *, name: str
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
        dagster_request = _dagster_request(request, run_key=request.run_id)
        dagster_request.tags["stacks/source_version"] = probe.version[:200]
        return SensorResult(run_requests=[dagster_request], cursor=probe.cursor)

    return _sensor
