"""What ``TemporalOrchestrator.build(ref)`` returns: the worker/workflow bundle of one stack.

Run it with your own Temporal::

    client = await Client.connect("temporal.example:7233")
    bundle = TemporalOrchestrator().build(StackRef(stack="temporal-dlt-dbt"))
    async with bundle.worker(client):          # in as many processes as you like
        await bundle.apply_schedules(client)   # the stack's cron triggers as Temporal Schedules
        await bundle.apply_watchers(client)    # its event triggers as watcher workflows
        record = await bundle.execute(client, RunRequest(stack="temporal-dlt-dbt"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    RunRecord,
    RunRequest,
    StackSpec,
)

from stacks_orch_temporal.activities import StackActivities
from stacks_orch_temporal.ref import StackRef, StackResolver
from stacks_orch_temporal.triggers import StackTriggerWorkflow, TriggerInput
from stacks_orch_temporal.version import code_version
from stacks_orch_temporal.workflow import RUN_FAILED, StackRunInput, StackRunWorkflow, StepOptions

__all__ = ["FILE_POLL_SECONDS", "TemporalBundle", "record_from_failure"]

#: how often a file-arrival watcher looks (a source-change trigger says its own)
FILE_POLL_SECONDS = 30.0


def record_from_failure(exc: BaseException) -> RunRecord | None:
    """The failed run's ledger record a ``WorkflowFailureError`` carries, if it does."""
    from temporalio.exceptions import ApplicationError

    cause = getattr(exc, "cause", None)
    if isinstance(cause, ApplicationError) and cause.type == RUN_FAILED and cause.details:
        return RunRecord.model_validate(cause.details[0])
    return None


@dataclass
class TemporalBundle:
    """The stack's workflow, activities, task queue and schedules, bound to a reference."""

    ref: StackRef
    task_queue: str
    options: StepOptions = field(default_factory=StepOptions)
    resolver: StackResolver = field(default_factory=StackResolver)
    workflows: tuple[type, ...] = (StackRunWorkflow, StackTriggerWorkflow)

    def activities(self) -> list[Any]:
        return StackActivities(self.resolver).all()

    def worker(self, client: Any, **worker_options: Any) -> Any:
        """A ``temporalio.worker.Worker`` for this stack's task queue (use ``async with``)."""
        from temporalio.worker import UnsandboxedWorkflowRunner, Worker

        # The workflow is this package's own (no user code runs in it) and deterministic by
        # construction: it only awaits activities. Temporal's sandbox would re-import it for
        # every run, 0.3-0.4 s each; the replay test checks its determinism instead.
        runner = UnsandboxedWorkflowRunner()
        # the stack's code version (temporalio's default hashes the bytecode of every loaded
        # module, seconds per worker once dbt and dlt are imported)
        worker_options.setdefault("build_id", code_version(self.ref.stack))
        return Worker(
            client,
            task_queue=self.task_queue,
            workflows=list(self.workflows),
            activities=self.activities(),
            workflow_runner=runner,
            **worker_options,
        )

    def run_input(self, request: RunRequest | None = None) -> StackRunInput:
        req = (
            {"stack": self.ref.stack}
            if request is None
            else request.model_dump(mode="json", by_alias=True)
        )
        return StackRunInput(
            ref=self.ref.model_dump(mode="json", by_alias=True), request=req, options=self.options
        )

    async def start(self, client: Any, request: RunRequest) -> Any:
        """Start the run (workflow id = run id); a run id that exists attaches to that run."""
        from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
        from temporalio.exceptions import WorkflowAlreadyStartedError

        try:
            return await client.start_workflow(
                StackRunWorkflow.run,
                self.run_input(request),
                id=request.run_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:  # finished before: its result is this run's
            return client.get_workflow_handle(request.run_id)

    async def execute(self, client: Any, request: RunRequest) -> RunRecord:
        """Start (or attach to) the run and wait for its ledger record; a failed run returns its
        record (status ``failed``) instead of raising."""
        from temporalio.client import WorkflowFailureError

        handle = await self.start(client, request)
        try:
            return RunRecord.model_validate(await handle.result())
        except WorkflowFailureError as exc:
            record = record_from_failure(exc)
            if record is None:
                raise
            return record

    def schedules(self, spec: StackSpec | None = None) -> dict[str, Any]:
        """Schedule id -> ``temporalio.client.Schedule`` for each cron trigger (overlap: skip).
        A scheduled run's id is its workflow id: the schedule id plus the tick's time."""
        from temporalio.client import (
            Schedule,
            ScheduleActionStartWorkflow,
            ScheduleOverlapPolicy,
            SchedulePolicy,
            ScheduleSpec,
        )

        spec = spec or self.resolver.spec(self.ref, self.resolver.warehouse(self.ref))
        out: dict[str, Any] = {}
        for i, trig in enumerate(spec.triggers):
            if not isinstance(trig, CronTrigger):
                continue
            sid = f"{self.ref.stack}-cron-{i}"
            inp = StackRunInput(
                ref=self.ref.model_dump(mode="json", by_alias=True),
                request={"stack": self.ref.stack, "trigger": "schedule"},
                options=self.options,
                cron_index=i,
            )
            out[sid] = Schedule(
                action=ScheduleActionStartWorkflow(
                    StackRunWorkflow.run,
                    inp,
                    id=sid,
                    task_queue=self.task_queue,
                    execution_timeout=timedelta(days=1),
                ),
                spec=ScheduleSpec(cron_expressions=[trig.cron], time_zone_name=trig.timezone),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            )
        return out

    async def apply_schedules(self, client: Any, spec: StackSpec | None = None) -> list[str]:
        """Create the stack's schedules, or update them to the current definition."""
        from temporalio.client import ScheduleAlreadyRunningError, ScheduleUpdate

        ids = []
        for sid, schedule in self.schedules(spec).items():
            try:
                await client.create_schedule(sid, schedule)
            except ScheduleAlreadyRunningError:
                await client.get_schedule_handle(sid).update(
                    lambda _input, s=schedule: ScheduleUpdate(schedule=s)
                )
            ids.append(sid)
        return ids

    def watchers(self, spec: StackSpec | None = None) -> dict[str, TriggerInput]:
        """Workflow id -> the watcher input of each event trigger (file arrival, source
        change); see :mod:`stacks_orch_temporal.triggers`."""
        spec = spec or self.resolver.spec(self.ref, self.resolver.warehouse(self.ref))
        out: dict[str, TriggerInput] = {}
        for i, trig in enumerate(spec.triggers):
            if isinstance(trig, CronTrigger):
                continue
            poll = FILE_POLL_SECONDS if isinstance(trig, FileArrivalTrigger) else trig.poll_seconds
            out[f"{self.ref.stack}-trigger-{i}"] = TriggerInput(
                ref=self.ref.model_dump(mode="json", by_alias=True),
                index=i,
                poll_seconds=float(poll),
                options=self.options,
            )
        return out

    async def apply_watchers(self, client: Any, spec: StackSpec | None = None) -> list[Any]:
        """Start the stack's watcher workflows; one already running is kept (with its cursor)."""
        from temporalio.common import WorkflowIDConflictPolicy

        handles = []
        for wid, inp in self.watchers(spec).items():
            handles.append(
                await client.start_workflow(
                    StackTriggerWorkflow.run,
                    inp,
                    id=wid,
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
            )
        return handles
