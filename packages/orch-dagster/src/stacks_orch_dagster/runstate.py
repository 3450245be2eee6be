"""Per-run state shared between :meth:`DagsterOrchestrator.run` and the asset bodies.

Runs started by :meth:`~stacks_orch_dagster.DagsterOrchestrator.run` execute in this process, so the
assets hand their exact results (LoadResult, TransformResult, the first error) back through this
registry, keyed by the stacks run id that travels in the Dagster run's tags. Runs launched by a
Dagster daemon (``dagster dev``) find no entry and get a fresh one built from their tags.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from stacks_contract.models import (
    LoadResult,
    RunRequest,
    TransformResult,
    TriggerKind,
)
from stacks_contract.ports import Reporter, silent

TAG_RUN_ID = "stacks/run_id"
TAG_TRIGGER = "stacks/trigger"
TAG_FULL_REFRESH = "stacks/full_refresh"
TAG_STACK = "stacks/stack"
#: set on runs whose ledger row the launching process writes itself (DagsterOrchestrator.run):
#: the ledger sensors of a UI sharing the instance leave them alone
TAG_RECORDED = "stacks/recorded_by"
#: the selectors of a triggered run (JSON list), so a run launched by Dagster records them
TAG_SELECT = "stacks/select"


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


def tags_for(request: RunRequest) -> dict[str, str]:
    return {
        TAG_RUN_ID: request.run_id,
        TAG_TRIGGER: request.trigger.value,
        TAG_FULL_REFRESH: "true" if request.full_refresh else "false",
        TAG_STACK: request.stack,
    }


def state_for(context: Any, stack: str) -> RunState:
    """The run's state, from the Dagster run's tags (created when the run came from a daemon)."""
    tags = dict(context.run.tags)
    run_id = tags.get(TAG_RUN_ID) or f"dagster-{context.run_id}"
    with _LOCK:
        state = _RUNS.get(run_id)
        if state is None:
            try:
                trigger = TriggerKind(tags.get(TAG_TRIGGER, TriggerKind.MANUAL.value))
            except ValueError:
                trigger = TriggerKind.MANUAL
            request = RunRequest(
                run_id=run_id,
                stack=tags.get(TAG_STACK, stack),
                trigger=trigger,
                select=tuple(json.loads(tags.get(TAG_SELECT, "[]"))),
                full_refresh=tags.get(TAG_FULL_REFRESH) == "true",
            )
            state = _RUNS[run_id] = RunState(request=request, report=_log_reporter(context))
        return state


def _log_reporter(context: Any) -> Reporter:
    def report(step: str, message: str) -> None:
        context.log.info(f"[{step}] {message}")

    return report
