"""The workflow: one execution per stacks run, following the stack's plan.

Deterministic by construction: it creates no run id, reads no clock and draws no random number.
The run id is the workflow id (so starting a run twice attaches to the first), and everything a
step needs comes from activities, whose results the history records. Payloads are plain dicts: a
secret-free stack reference (``StackRef``), the run request and results, never credentials.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

__all__ = [
    "LEDGER_FINISH",
    "LEDGER_START",
    "MEMO_RUN_ID",
    "NON_RETRYABLE",
    "PLAN",
    "PROBE",
    "STEP",
    "TRANSFORM",
    "StackRunInput",
    "StackRunWorkflow",
    "StepOptions",
]

WORKFLOW = "stacks.StackRun"
PLAN = "stacks.plan"
STEP = "stacks.el_step"
TRANSFORM = "stacks.transform"
LEDGER_START = "stacks.ledger_start"
LEDGER_FINISH = "stacks.ledger_finish"
PROBE = "stacks.probe_trigger"
#: ApplicationError types a retry cannot fix (bad configuration, a failing dbt test)
NON_RETRYABLE = ("ConfigError", "TransformFailed")
#: the error type of a failed stack run (the workflow's own failure)
RUN_FAILED = "StackRunFailed"
#: the workflow's memo key holding its stacks run id
MEMO_RUN_ID = "stacks_run_id"


@dataclass
class StepOptions:
    """Timeouts and retries of the step activities (seconds)."""

    start_to_close: float = 3600.0
    heartbeat: float = 30.0
    max_attempts: int = 4
    initial_interval: float = 1.0
    backoff: float = 2.0
    max_interval: float = 60.0

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval),
            backoff_coefficient=self.backoff,
            maximum_interval=timedelta(seconds=max(self.max_interval, self.initial_interval)),
            maximum_attempts=self.max_attempts,
            non_retryable_error_types=list(NON_RETRYABLE),
        )


@dataclass
class StackRunInput:
    """What a run starts from. ``ref``: a ``StackRef`` as JSON; ``request``: a ``RunRequest`` as
    JSON, its ``run_id`` optional (then the workflow id is the run id; a scheduled run's is the
    contract's id for its cron tick, so every orchestrator names a tick's run alike)."""

    ref: dict[str, Any]
    request: dict[str, Any]
    options: StepOptions = field(default_factory=StepOptions)
    #: set by a Temporal Schedule: which cron trigger of the stack it renders (the run id is
    #: then the contract's id for that trigger's tick, from the schedule's start time)
    cron_index: int | None = None


def _failure(exc: BaseException) -> tuple[str, Any]:
    """(one sentence, details) of a failed activity."""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    if isinstance(cause, ApplicationError):
        return cause.message, (cause.details[0] if cause.details else None)
    return str(cause or exc), None


@workflow.defn(name=WORKFLOW)
class StackRunWorkflow:
    """plan -> ledger start -> EL steps (in parallel) -> transform -> ledger finish."""

    @workflow.run
    async def run(self, inp: StackRunInput) -> dict[str, Any]:
        opts = inp.options
        request = dict(inp.request)
        request.setdefault("run_id", workflow.info().workflow_id)
        try:
            started = workflow.info().start_time.isoformat()
            plan = await _call(
                PLAN, [inp.ref, request, inp.cron_index, _scheduled_at(), started], opts
            )
        except ActivityError as exc:
            raise ApplicationError(_failure(exc)[0], type=RUN_FAILED, non_retryable=True) from exc
        request = plan["request"]
        # a Schedule names its workflows itself (<schedule id>-<tick>): the memo says which
        # stacks run each one is, in the Web UI and `temporal workflow describe`
        workflow.upsert_memo({MEMO_RUN_ID: request["run_id"]})
        record = await _call(LEDGER_START, [inp.ref, request], opts)

        error: str | None = None
        loads: list[dict[str, Any]] = []
        outcomes = await asyncio.gather(
            *(
                _call(STEP, [inp.ref, request, name], opts, step=f"el:{name}")
                for name in plan["steps"]
            ),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                message, partial = _failure(outcome)
                error = error or message
                if isinstance(partial, dict) and "rows" in partial:  # the tables that loaded
                    loads.append(partial)
            else:
                loads.append(outcome)

        transform: dict[str, Any] | None = None
        if error is None and plan["transform"]:
            sub = {**request, "select": plan["models"]}
            try:
                transform = await _call(TRANSFORM, [inp.ref, sub], opts, step="transform")
            except ActivityError as exc:
                error, transform = _failure(exc)

        record = await _call(
            LEDGER_FINISH, [inp.ref, request, record, loads, transform, error], opts
        )
        if record["status"] != "succeeded":
            raise ApplicationError(
                record.get("error") or "the run failed",
                record,
                type=RUN_FAILED,
                non_retryable=True,
            )
        return dict(record)


def _scheduled_at() -> str | None:
    """The tick a Temporal Schedule started this run for (its search attribute), else None."""
    from temporalio.common import SearchAttributeKey

    key = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
    tick = workflow.info().typed_search_attributes.get(key)
    return None if tick is None else tick.isoformat()


async def _call(name: str, args: list[Any], opts: StepOptions, *, step: str | None = None) -> Any:
    """Run activity ``name``. A step (``step`` = its activity id) is a regular activity with the
    step timeouts and a heartbeat timeout, so any worker may take it and a dead worker is noticed.
    Bookkeeping (plan, ledger) is a local activity: it runs in the worker that runs the workflow,
    with no server round trip to schedule it (each one cost 0.2-0.5 s as a regular activity), and
    is recorded in the history as a marker all the same."""
    if step is None:
        return await workflow.execute_local_activity(
            name,
            args=args,
            start_to_close_timeout=timedelta(seconds=120.0),
            retry_policy=opts.retry_policy(),
        )
    return await workflow.execute_activity(
        name,
        args=args,
        start_to_close_timeout=timedelta(seconds=opts.start_to_close),
        heartbeat_timeout=timedelta(seconds=opts.heartbeat),
        retry_policy=opts.retry_policy(),
        activity_id=step,
    )
