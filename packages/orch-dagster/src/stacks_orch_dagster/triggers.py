"""A stack's triggers as Dagster schedules and sensors.

The hybrid the stacks model asks for: a baseline cron schedule over the whole stack, plus
opportunistic sensors (files landed, the source changed) that run only the affected EL step and
what depends on it. Every run request carries a fresh stacks run id in its tags.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    SourceChangeTrigger,
    StackSpec,
    TriggerKind,
)

from stacks_orch_dagster.definitions import op_name
from stacks_orch_dagster.runstate import new_tags

if TYPE_CHECKING:
    from stacks_orch_dagster.definitions import StackDefinitions


def _step_job(sd: StackDefinitions, steps: tuple[str, ...], name: str) -> Any:
    from dagster import AssetSelection, define_asset_job

    keys = []
    for s in steps:
        if s not in sd.step_keys:
            raise ConfigError(f"Trigger names EL step {s!r}, which the stack does not have.")
        keys.extend(sd.step_keys[s])
    return define_asset_job(name, selection=AssetSelection.assets(*keys).downstream())


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
        elif isinstance(trig, FileArrivalTrigger):
            job = all_job
            if trig.steps:
                job = _step_job(sd, trig.steps, op_name(f"files_{i}_" + "_".join(trig.steps)))
                jobs.append(job)
            sensors.append(file_arrival_sensor(stack, trig, job, name=f"file_arrival_{i}"))
        elif isinstance(trig, SourceChangeTrigger):
            job = _step_job(sd, (trig.step,), op_name(f"{trig.step}_and_downstream"))
            jobs.append(job)
            sensors.append(
                source_change_sensor(
                    stack, trig, stack.step(trig.step), job, name=op_name(f"{trig.step}_changed")
                )
            )
    return jobs, schedules, sensors


def cron_schedule(stack: StackSpec, trig: CronTrigger, job: Any, *, name: str) -> Any:
    from dagster import RunRequest, schedule

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
        return RunRequest(
            run_key=tick.isoformat() if tick else None,
            tags=new_tags(stack.name, TriggerKind.SCHEDULE),
        )

    return _schedule


def _scan(path: Path, pattern: str) -> list[tuple[float, str]]:
    """(mtime, relative path) of every file under ``path`` matching ``pattern``."""
    if not path.is_dir():
        return []
    found = []
    for root, _dirs, files in os.walk(path):
        for f in files:
            full = Path(root) / f
            rel = full.relative_to(path).as_posix()
            if fnmatch.fnmatch(f, pattern) or fnmatch.fnmatch(rel, pattern):
                try:
                    found.append((full.stat().st_mtime, rel))
                except FileNotFoundError:  # removed between walk and stat
                    continue
    return sorted(found)


def file_arrival_sensor(stack: StackSpec, trig: FileArrivalTrigger, job: Any, *, name: str) -> Any:
    """New files by mtime cursor: the cursor keeps the newest mtime seen and the names seen at
    exactly that mtime, so two files landing in the same second are both noticed once."""
    from dagster import RunRequest, SensorResult, SkipReason, sensor

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=30,
        description=f"Runs when files matching {trig.pattern!r} land in {trig.path}.",
    )
    def _sensor(context) -> Any:
        cursor = json.loads(context.cursor) if context.cursor else {"mtime": None, "names": []}
        last, seen = cursor["mtime"], set(cursor["names"])
        files = _scan(Path(trig.path), trig.pattern)
        new = [
            (m, f) for m, f in files if last is None or m > last or (m == last and f not in seen)
        ]
        if not new:
            return SkipReason(f"no new files matching {trig.pattern!r} in {trig.path}")
        newest = max(m for m, _ in new)
        at_newest = {f for m, f in files if m == newest}
        if last is not None and newest == last:
            at_newest |= seen
        tags = new_tags(stack.name, TriggerKind.FILE_ARRIVAL)
        tags["stacks/files"] = json.dumps([f for _, f in new][:20])
        return SensorResult(
            run_requests=[RunRequest(run_key=f"files:{newest}:{len(new)}", tags=tags)],
            cursor=json.dumps({"mtime": newest, "names": sorted(at_newest)}),
        )

    return _sensor


def source_change_sensor(
    stack: StackSpec, trig: SourceChangeTrigger, step: Any, job: Any, *, name: str
) -> Any:
    """Polls ``ChangeProbe.source_version()``; a token unlike the last one seen requests a run of
    the step and everything downstream of it. The first tick (no cursor) runs too: an unknown
    state is treated as changed."""
    from dagster import RunRequest, SensorResult, SkipReason, sensor

    if not callable(getattr(step, "source_version", None)):
        raise ConfigError(
            f"A source-change trigger watches EL step {step.name!r}, which cannot report a "
            "source version (it does not implement ChangeProbe)."
        )

    @sensor(
        name=name,
        job=job,
        minimum_interval_seconds=trig.poll_seconds,
        description=f"Runs {step.name!r} and downstream when its source reports a change.",
    )
    def _sensor(context) -> Any:
        version = str(step.source_version())
        if version == context.cursor:
            return SkipReason(f"source of {step.name!r} unchanged (version {version})")
        tags = new_tags(stack.name, TriggerKind.SOURCE_CHANGE)
        tags["stacks/source_version"] = version[:200]
        return SensorResult(
            run_requests=[RunRequest(run_key=f"{step.name}:{version}", tags=tags)],
            cursor=version,
        )

    return _sensor
