"""When a trigger fires, and what it runs: the tool-free half of every orchestrator's sensors.

An orchestrator renders each trigger natively (a Dagster schedule or sensor, an Airflow
schedule or sensor, a Temporal schedule or watcher) and keeps the trigger's *cursor* in its own
store. What counts as new and what a firing runs is decided here, once:

* :func:`scan_files`: the files of a :class:`FileArrivalTrigger` not seen before. The cursor
  keeps the newest modification time seen and the names seen at exactly that time, so two files
  landing in the same second both count, once.
* :func:`probe_source`: a :class:`SourceChangeTrigger` fires when the step's
  :meth:`ChangeProbe.source_version` differs from the cursor; the first probe (no cursor) fires,
  an unknown state counts as changed.
* :func:`trigger_request`: the :class:`RunRequest` a firing makes. Its run id is derived from
  (stack, trigger, token), so a scheduler restarted with a stale cursor that fires the same
  event again names the *same* run: the ledger upserts it and an orchestrator that keys runs
  by id (a Temporal workflow id, a Dagster run key) attaches instead of running twice.

A cron tick's token is the scheduled time (:func:`cron_token`); files' token is the cursor
after the scan; a source change's token is the new version.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    RunRequest,
    StackSpec,
    Trigger,
    TriggerKind,
)

__all__ = [
    "FileScan",
    "Probe",
    "cron_token",
    "evaluate_trigger",
    "probe_source",
    "scan_files",
    "trigger_kind",
    "trigger_request",
    "trigger_selectors",
]


@dataclass(frozen=True)
class FileScan:
    """``new``: files (relative paths) not seen before; ``cursor``: what to store for the next
    scan (unchanged when nothing is new)."""

    new: tuple[str, ...]
    cursor: str | None

    @property
    def fires(self) -> bool:
        return bool(self.new)


@dataclass(frozen=True)
class Probe:
    changed: bool
    version: str

    @property
    def cursor(self) -> str:
        return self.version


def _files(path: Path, pattern: str) -> list[tuple[float, str]]:
    if not path.is_dir():
        return []
    found = []
    for root, _dirs, names in os.walk(path):
        for name in names:
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            if not (fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(rel, pattern)):
                continue
            try:
                found.append((full.stat().st_mtime, rel))
            except FileNotFoundError:  # removed between walk and stat
                continue
    return sorted(found)


def scan_files(trigger: FileArrivalTrigger, cursor: str | None) -> FileScan:
    """The files matching ``trigger`` that ``cursor`` has not seen (see the module docstring)."""
    state = json.loads(cursor) if cursor else {"mtime": None, "names": []}
    last, seen = state["mtime"], set(state["names"])
    files = _files(Path(trigger.path), trigger.pattern)
    new = [(m, f) for m, f in files if last is None or m > last or (m == last and f not in seen)]
    if not new:
        return FileScan(new=(), cursor=cursor)
    newest = max(m for m, _ in new)
    at_newest = {f for m, f in files if m == newest}
    if last is not None and newest == last:
        at_newest |= seen
    return FileScan(
        new=tuple(f for _, f in new),
        cursor=json.dumps({"mtime": newest, "names": sorted(at_newest)}),
    )


def probe_source(step: object, cursor: str | None) -> Probe:
    """Ask ``step`` (a :class:`~stacks_contract.ports.ChangeProbe`) for its source version."""
    version_of = getattr(step, "source_version", None)
    if not callable(version_of):
        name = getattr(step, "name", type(step).__name__)
        raise ConfigError(
            f"A source-change trigger watches EL step {name!r}, which cannot report a source "
            "version (it does not implement ChangeProbe)."
        )
    version = str(version_of())
    return Probe(changed=version != cursor, version=version)


def cron_token(tick: datetime) -> str:
    """The token of a cron tick: its scheduled time in UTC, ISO format."""
    aware = tick if tick.tzinfo else tick.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def trigger_kind(trigger: Trigger) -> TriggerKind:
    if isinstance(trigger, CronTrigger):
        return TriggerKind.SCHEDULE
    if isinstance(trigger, FileArrivalTrigger):
        return TriggerKind.FILE_ARRIVAL
    return TriggerKind.SOURCE_CHANGE


def trigger_selectors(spec: StackSpec, trigger: Trigger) -> tuple[str, ...]:
    """What a firing runs, as selectors: a cron tick the whole stack; new files their steps
    (or the whole stack when the trigger names none) and everything downstream; a source change
    its step and everything downstream."""
    names = {s.name for s in spec.el_steps}
    if isinstance(trigger, CronTrigger):
        return ()
    steps = trigger.steps if isinstance(trigger, FileArrivalTrigger) else (trigger.step,)
    unknown = [s for s in steps if s not in names]
    if unknown:
        raise ConfigError(
            f"A {trigger.kind} trigger of stack {spec.name!r} names EL step(s) "
            f"{', '.join(map(repr, unknown))}, which the stack does not have."
        )
    return tuple(f"{s}+" for s in steps)


def trigger_request(spec: StackSpec, trigger: Trigger, token: str) -> RunRequest:
    """The run a firing of ``trigger`` makes; the same (stack, trigger, token) gives the same
    run id."""
    kind = trigger_kind(trigger)
    ident = json.dumps([spec.name, trigger.model_dump(mode="json"), token], sort_keys=True)
    digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
    return RunRequest(
        run_id=f"{kind.value}-{digest}",
        stack=spec.name,
        trigger=kind,
        select=trigger_selectors(spec, trigger),
    )


def evaluate_trigger(
    spec: StackSpec, trigger: Trigger, cursor: str | None, now: datetime
) -> tuple[list[RunRequest], str | None]:
    """The reference rendering of one trigger tick: the runs it requests and the next cursor.

    A cron trigger is evaluated at its scheduled tick ``now`` (deciding *when* ticks happen is
    the scheduler's job); its cursor is the last tick fired, so the same tick never fires twice.
    The suites compare every orchestrator's native rendering with this.
    """
    if isinstance(trigger, CronTrigger):
        token = cron_token(now)
        if cursor == token:
            return [], cursor
        return [trigger_request(spec, trigger, token)], token
    if isinstance(trigger, FileArrivalTrigger):
        scan = scan_files(trigger, cursor)
        if not scan.fires:
            return [], cursor
        return [trigger_request(spec, trigger, scan.cursor or "")], scan.cursor
    probe = probe_source(spec.step(trigger.step), cursor)
    if not probe.changed:
        return [], cursor
    return [trigger_request(spec, trigger, probe.version)], probe.cursor
