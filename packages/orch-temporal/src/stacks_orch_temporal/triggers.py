"""Event triggers (file arrival, source change) as long-running Temporal watcher workflows.

One watcher workflow per event trigger (id ``<stack>-trigger-<index>``): each tick it runs the
``stacks.probe_trigger`` activity, which evaluates the trigger with the contract's semantics
(:func:`stacks_contract.triggers.evaluate_trigger`: new files since the cursor, a changed source
version), and starts one stack run per request as a child workflow whose id is the request's
run id. That id is deterministic (stack + trigger + what was seen), so a watcher that restarts
from an older cursor names the same run and Temporal refuses to start it twice. The cursor lives
in the workflow's own state and travels through continue-as-new; nothing else stores it.

Cron triggers are Temporal Schedules (:meth:`TemporalBundle.schedules`), not watchers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from stacks_orch_temporal.workflow import PROBE, StackRunInput, StackRunWorkflow, StepOptions

__all__ = ["TRIGGER_WORKFLOW", "StackTriggerWorkflow", "TriggerInput", "probe_trigger"]

TRIGGER_WORKFLOW = "stacks.StackTrigger"


@dataclass
class TriggerInput:
    """A watcher's state. ``index``: the trigger's position in the stack's ``triggers``;
    ``cursor``: what the last tick saw; ``poll_seconds``: time between ticks; after
    ``ticks_per_run`` ticks the watcher continues as new (its history stays small)."""

    ref: dict[str, Any]
    index: int
    poll_seconds: float
    cursor: str | None = None
    options: StepOptions = field(default_factory=StepOptions)
    ticks_per_run: int = 500
    #: how many ticks to run before returning (None: forever); for tests and one-shot use
    max_ticks: int | None = None


def probe_trigger(spec: Any, index: int, cursor: str | None, now: datetime) -> dict[str, Any]:
    """One tick of trigger ``index`` of ``spec`` at ``now``: the run requests (as JSON) and the
    next cursor, by the contract's semantics."""
    from stacks_contract.triggers import evaluate_trigger

    requests, new_cursor = evaluate_trigger(spec, spec.triggers[index], cursor, now)
    return {
        "requests": [r.model_dump(mode="json", by_alias=True) for r in requests],
        "cursor": new_cursor,
    }


@workflow.defn(name=TRIGGER_WORKFLOW)
class StackTriggerWorkflow:
    """probe -> start the requested runs (child workflows, id = run id) -> sleep -> again."""

    @workflow.run
    async def run(self, inp: TriggerInput) -> str | None:
        cursor = inp.cursor
        ticks = 0
        while inp.max_ticks is None or ticks < inp.max_ticks:
            tick = await workflow.execute_activity(
                PROBE,
                args=[inp.ref, inp.index, cursor, workflow.now().isoformat()],
                start_to_close_timeout=timedelta(seconds=max(60.0, inp.poll_seconds)),
                retry_policy=inp.options.retry_policy(),
            )
            for request in tick["requests"]:
                await _start_run(inp, request)
            cursor = tick["cursor"]
            ticks += 1
            if inp.max_ticks is not None and ticks >= inp.max_ticks:
                break
            if ticks >= inp.ticks_per_run:
                workflow.continue_as_new(
                    TriggerInput(
                        ref=inp.ref,
                        index=inp.index,
                        poll_seconds=inp.poll_seconds,
                        cursor=cursor,
                        options=inp.options,
                        ticks_per_run=inp.ticks_per_run,
                    )
                )
            await workflow.sleep(timedelta(seconds=inp.poll_seconds))
        return cursor


async def _start_run(inp: TriggerInput, request: dict[str, Any]) -> None:
    """Start the stack run ``request`` names, unless a run with its id exists already (a
    watcher that restarted from an older cursor); the run outlives the watcher."""
    try:
        await workflow.start_child_workflow(
            StackRunWorkflow.run,
            StackRunInput(ref=inp.ref, request=request, options=inp.options),
            id=request["run_id"],
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("run %s was started before; not again", request["run_id"])
