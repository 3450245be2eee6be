"""Per-run state shared between :meth:`DagsterOrchestrator.run` and the asset bodies.

Runs started by :meth:`~stacks_orch_dagster.DagsterOrchestrator.run` execute in this process, so the
assets hand their exact results (LoadResult, TransformResult, the first error) back through this
registry, keyed by the stacks run id that travels in the Dagster run's tags. Runs Dagster launches
(a schedule, a sensor, the UI, ``dagster asset materialize``) find no entry and get a fresh one
built from their tags; a run that came without stacks tags (the UI's "Materialize",
``dagster asset materialize``) is *adopted* by its first asset: it gets the tags, so the ledger
sensors record it when it ends, under a run id in the contract's shape derived from Dagster's
run id.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stacks_contract.models import (
    LoadResult,
    RunRequest,
    TransformResult,
    TriggerKind,
    Window,
    utcnow,
)
from stacks_contract.ports import Reporter, silent
from stacks_contract.warehouse import Warehouse

TAG_RUN_ID = "stacks/run_id"
TAG_TRIGGER = "stacks/trigger"
TAG_FULL_REFRESH = "stacks/full_refresh"
TAG_STACK = "stacks/stack"
#: the warehouse a run writes to (its URL, password masked): the ledger sensors of a code location
#: record the runs of their own stack and warehouse only, whoever launched them
TAG_WAREHOUSE = "stacks/warehouse"
#: set on runs whose ledger row the launching process writes itself (DagsterOrchestrator.run):
#: the ledger sensors of a UI sharing the instance leave them alone
TAG_RECORDED = "stacks/recorded_by"
#: the selectors of a triggered run (JSON list), so a run launched by Dagster records them
TAG_SELECT = "stacks/select"
#: the run's window (``RunRequest.window``) as ``<start>..<end>``, ISO 8601; a run of a time
#: partition (or a range of them) takes its window from the partitions instead
TAG_WINDOW = "stacks/window"


@dataclass
class RunState:
    request: RunRequest
    report: Reporter = silent
    loads: dict[str, LoadResult] = field(default_factory=dict)
    transform: TransformResult | None = None
    #: step name -> one sentence; the last attempt's error wins (retries may succeed later)
    errors: dict[str, str] = field(default_factory=dict)
    #: Dagster caught a Ctrl-C / SIGTERM and stopped its steps (it does not re-raise it)
    interrupted: bool = False


_LOCK = threading.Lock()
_RUNS: dict[str, RunState] = {}


def register(request: RunRequest, report: Reporter) -> RunState:
    state = RunState(request=request, report=report)
    with _LOCK:
        _RUNS[request.run_id] = state
    return state


def unregister(run_id: str) -> None:
    with _LOCK:
        _RUNS.pop(run_id, None)


def warehouse_tag(warehouse: Warehouse) -> str:
    return warehouse.redacted_url()


def tags_for(request: RunRequest, warehouse: str = "") -> dict[str, str]:
    tags = {
        TAG_RUN_ID: request.run_id,
        TAG_TRIGGER: request.trigger.value,
        TAG_FULL_REFRESH: "true" if request.full_refresh else "false",
        TAG_STACK: request.stack,
    }
    if warehouse:
        tags[TAG_WAREHOUSE] = warehouse
    if request.window is not None:
        tags[TAG_WINDOW] = f"{request.window.start.isoformat()}..{request.window.end.isoformat()}"
    return tags


def derived_run_id(instance: Any, dagster_run_id: str) -> str:
    """The stacks run id of a Dagster run that came without one: the contract's shape (UTC
    creation time, 8 hex digits), the digits being the short id Dagster's UI shows for the run."""
    record = instance.get_run_record_by_id(dagster_run_id) if instance is not None else None
    created: datetime = record.create_timestamp if record is not None else utcnow()
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return f"{created.astimezone(UTC):%Y%m%dT%H%M%S}-{dagster_run_id.replace('-', '')[:8]}"


def request_from_tags(
    tags: dict[str, str], run_id: str, stack: str, window: Window | None = None
) -> RunRequest:
    try:
        trigger = TriggerKind(tags.get(TAG_TRIGGER, TriggerKind.MANUAL.value))
    except ValueError:
        trigger = TriggerKind.MANUAL
    if window is None and tags.get(TAG_WINDOW):
        start, _, end = tags[TAG_WINDOW].partition("..")
        window = Window(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))
    return RunRequest(
        run_id=run_id,
        stack=tags.get(TAG_STACK, stack),
        trigger=trigger,
        select=tuple(json.loads(tags.get(TAG_SELECT, "[]"))),
        full_refresh=tags.get(TAG_FULL_REFRESH) == "true",
        window=window,
    )


def partition_window(context: Any) -> Window | None:
    """The time window of the partition (or range of partitions) an asset runs for: a Dagster
    backfill of time partitions is a window run."""
    partitioned = context.has_partition_key or context.has_partition_key_range
    if not partitioned:
        return None
    try:
        tw = context.partition_time_window
    except Exception:  # not a time-window partition (static, dynamic): no window
        return None
    return Window(start=tw.start, end=tw.end)


def state_for(context: Any, stack: str, warehouse: Warehouse | None = None) -> RunState:
    """The run's state, from the Dagster run's tags (created when Dagster launched the run; a
    run without stacks tags is adopted, see the module docstring)."""
    tags = dict(context.run.tags)
    run_id = tags.get(TAG_RUN_ID) or derived_run_id(context.instance, context.run_id)
    with _LOCK:
        state = _RUNS.get(run_id)
        if state is not None:
            return state
        request = request_from_tags(tags, run_id, stack, partition_window(context))
        state = _RUNS[run_id] = RunState(request=request, report=_log_reporter(context))
    if warehouse is not None and not tags.get(TAG_RECORDED):
        _adopt(context, tags, request, warehouse)
    return state


def _adopt(context: Any, tags: dict[str, str], request: RunRequest, warehouse: Warehouse) -> None:
    """Tag the Dagster run as this stack's: the UI shows the stacks run id, and the ledger
    sensors, which look at its tags when it ends, record it. (Its ``running`` row is the started
    sensor's, which looked before the tags were there: such a run's row appears when it ends.)"""
    wanted = tags_for(request, warehouse_tag(warehouse))
    missing = {k: v for k, v in wanted.items() if k not in tags}
    if missing:
        context.instance.add_run_tags(context.run_id, missing)


def _log_reporter(context: Any) -> Reporter:
    def report(step: str, message: str) -> None:
        context.log.info(f"[{step}] {message}")

    return report
