"""The activities: each rebuilds what it runs from the stack reference, in the worker process.

Steps run in a thread while the activity heartbeats, so a worker that dies (or hangs) is noticed
after the heartbeat timeout and the step is retried on another worker. Only a transient failure
(:func:`stacks_core.retry.is_transient`: the warehouse restarting, a connection lost) is
retried, with backoff; any other error (a ConfigError, bad SQL, a failing dbt test) is a
non-retryable ``ApplicationError`` carrying the contract's one-sentence message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from stacks_contract.errors import ConfigError, StacksError
from stacks_contract.manifest import plan
from stacks_contract.models import (
    CronTrigger,
    LoadResult,
    RunRecord,
    RunRequest,
    StackSpec,
    TransformResult,
)
from stacks_contract.selection import resolve
from stacks_contract.triggers import cron_token, trigger_request
from stacks_contract.warehouse import Warehouse, redact
from stacks_core.ledger import Ledger
from stacks_core.retry import is_transient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from stacks_orch_temporal.backfill import backfill_window
from stacks_orch_temporal.ref import StackRef, StackResolver
from stacks_orch_temporal.stopping import StoppableCall
from stacks_orch_temporal.workflow import (
    LEDGER_FINISH,
    LEDGER_START,
    PLAN,
    PROBE,
    STEP,
    TRANSFORM,
)

__all__ = ["ORCHESTRATOR", "StackActivities", "selection"]

ORCHESTRATOR = "temporal"
T = TypeVar("T")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _outcome_seen(task: asyncio.Future[Any]) -> None:
    """A done callback: the outcome of a step nobody awaits (its activity was cancelled) is not
    an "exception never retrieved" warning after the run's last line."""
    if not task.cancelled():
        task.exception()


def selection(spec: StackSpec, request: RunRequest) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(EL steps to run, transform nodes to build; () = all) for ``request``'s selectors."""
    sel = resolve(spec, request.select, request.exclude)
    return sel.steps, sel.transform_select() if sel.runs_transform else ()


class StackActivities:
    """The activity implementations, bound to a :class:`StackResolver`."""

    def __init__(self, resolver: StackResolver | None = None) -> None:
        self.resolver = resolver or StackResolver()
        self._running: dict[str, asyncio.Future[Any]] = {}

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.plan,
            self.ledger_start,
            self.el_step,
            self.transform,
            self.ledger_finish,
            self.probe,
        ]

    def _bind(self, ref: dict[str, Any]) -> tuple[StackRef, Warehouse]:
        sref = StackRef.model_validate(ref)
        return sref, self.resolver.warehouse(sref)

    async def _in_thread(
        self,
        label: str,
        fn: Callable[[], T],
        warehouse: Warehouse,
        step: Callable[[], str] | None = None,
    ) -> T:
        """Run ``fn`` in a thread, heartbeating until it returns; errors become
        ``ApplicationError`` s with one sentence, the password masked.

        A cancelled activity stops its thread (:mod:`.stopping`). One that timed out is not
        cancelled here: when its retry lands on this same worker, the retry first waits for the
        old attempt's thread, so one step never runs twice at once in a process."""
        info = activity.info()
        if info.attempt > 1:
            self.resolver.report(label, f"attempt {info.attempt}")
        # a local activity (plan, ledger) has no heartbeat: it is short and runs beside its workflow
        beat = info.heartbeat_timeout.total_seconds() / 3 if info.heartbeat_timeout else None
        key = f"{info.workflow_id}/{info.activity_id}"
        try:
            previous = self._running.get(key)
            if previous is not None and not previous.done():
                with contextlib.suppress(Exception):  # its outcome is that attempt's, not ours
                    await self._beating(previous, beat, label)
            call = StoppableCall(fn)
            task = self._running[key] = asyncio.ensure_future(asyncio.to_thread(call))
            try:
                return await self._beating(task, beat, label)
            except asyncio.CancelledError:
                call.stop()  # the run was cancelled: the step stops too (see .stopping)
                task.add_done_callback(_outcome_seen)  # nobody awaits it any more
                raise
        except ConfigError as exc:
            raise ApplicationError(
                redact(str(exc), warehouse), type="ConfigError", non_retryable=True
            ) from None
        except ApplicationError:
            raise
        except Exception as exc:
            # transient (the warehouse restarting, a connection lost): the activity's retry
            # policy runs it again with backoff; anything else fails the step at once
            again = is_transient(exc)
            if isinstance(exc, StacksError):
                message = str(exc)
            else:
                name = step() if step is not None else label
                message = f"Step {name!r} failed: {type(exc).__name__}: {_one_line(exc)}"
            if again:
                self.resolver.report(label, f"attempt {info.attempt} failed (transient): {message}")
            # the tables a failed EL step did load (el-dlt's), for the run's ledger row
            partial = getattr(exc, "result", None)
            details = []
            if isinstance(partial, LoadResult):
                details.append(partial.model_dump(mode="json", by_alias=True))
            raise ApplicationError(
                redact(message, warehouse),
                *details,
                type=type(exc).__name__,
                non_retryable=not again,
            ) from None

    @staticmethod
    async def _beating(task: asyncio.Future[T], beat: float | None, label: str) -> T:
        if beat is None:
            return await task
        while True:
            done, _ = await asyncio.wait({task}, timeout=max(0.1, beat))
            if done:
                return task.result()
            activity.heartbeat(label)

    @activity.defn(name=PLAN)
    async def plan(
        self,
        ref: dict[str, Any],
        request: dict[str, Any],
        cron_index: int | None = None,
        scheduled_at: str | None = None,
        started_at: str | None = None,
    ) -> dict[str, Any]:
        sref, warehouse = self._bind(ref)

        def work() -> dict[str, Any]:
            spec = self.resolver.spec(sref, warehouse)
            given = dict(request)
            if cron_index is not None and scheduled_at is not None:
                trigger, at = spec.triggers[cron_index], datetime.fromisoformat(scheduled_at)
                given["run_id"] = trigger_request(spec, trigger, cron_token(at)).run_id
                # a backfilled tick covers its interval (see .backfill)
                window = (
                    backfill_window(trigger, at, datetime.fromisoformat(started_at))
                    if started_at and isinstance(trigger, CronTrigger)
                    else None
                )
                if window and not given.get("window"):
                    given["window"] = window.model_dump(mode="json")
            req = RunRequest.model_validate(given)
            plan(spec)
            steps, models = selection(spec, req)
            return {
                "request": req.model_dump(mode="json", by_alias=True),
                "steps": list(steps),
                "models": list(models),
                "transform": spec.transform is not None
                and resolve(spec, req.select, req.exclude).runs_transform,
            }

        return await self._in_thread("plan", work, warehouse)

    @activity.defn(name=PROBE)
    async def probe(
        self, ref: dict[str, Any], index: int, cursor: str | None, now: str
    ) -> dict[str, Any]:
        """One tick of an event trigger (see :mod:`stacks_orch_temporal.triggers`)."""
        from stacks_orch_temporal.triggers import probe_trigger

        sref, warehouse = self._bind(ref)
        return await self._in_thread(
            "trigger",
            lambda: probe_trigger(
                self.resolver.spec(sref, warehouse), index, cursor, datetime.fromisoformat(now)
            ),
            warehouse,
        )

    @activity.defn(name=LEDGER_START)
    async def ledger_start(self, ref: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        sref, warehouse = self._bind(ref)
        req = RunRequest.model_validate(request)
        record = await self._in_thread(
            "ledger", lambda: Ledger(warehouse).start(sref.stack, ORCHESTRATOR, req), warehouse
        )
        return record.model_dump(mode="json", by_alias=True)

    @activity.defn(name=STEP)
    async def el_step(self, ref: dict[str, Any], request: dict[str, Any], name: str) -> dict:
        sref, warehouse = self._bind(ref)
        req = RunRequest.model_validate(request)

        def work() -> LoadResult:
            step = self.resolver.spec(sref, warehouse).step(name)
            return step.run(req, warehouse, self.resolver.report)

        result = await self._in_thread(name, work, warehouse)
        self.resolver.report(name, f"loaded {result.total_rows} rows")
        return result.model_dump(mode="json", by_alias=True)

    @activity.defn(name=TRANSFORM)
    async def transform(self, ref: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        sref, warehouse = self._bind(ref)
        req = RunRequest.model_validate(request)
        names: list[str] = []

        def work() -> TransformResult:
            transform = self.resolver.spec(sref, warehouse).transform
            if transform is None:
                raise ConfigError(f"Stack {sref.stack!r} has no transform.")
            names.append(transform.name)
            return transform.run(req, warehouse, self.resolver.report)

        result = await self._in_thread(
            "transform", work, warehouse, lambda: names[0] if names else "transform"
        )
        if not result.ok:
            raise ApplicationError(
                redact(result.failure_sentence(names[0]), warehouse),
                result.model_dump(mode="json", by_alias=True),
                type="TransformFailed",
                non_retryable=True,
            )
        return result.model_dump(mode="json", by_alias=True)

    @activity.defn(name=LEDGER_FINISH)
    async def ledger_finish(
        self,
        ref: dict[str, Any],
        request: dict[str, Any],
        record: dict[str, Any],
        loads: list[dict[str, Any]],
        transform: dict[str, Any] | None,
        error: str | None,
    ) -> dict[str, Any]:
        _sref, warehouse = self._bind(ref)
        started = RunRecord.model_validate(record)
        done = finish_record(
            RunRequest.model_validate(request),
            started,
            [LoadResult.model_validate(x) for x in loads],
            None if transform is None else TransformResult.model_validate(transform),
            error,
        )
        await self._in_thread("ledger", lambda: Ledger(warehouse).record(done), warehouse)
        return done.model_dump(mode="json", by_alias=True)


def finish_record(
    request: RunRequest,
    started: RunRecord,
    loads: list[LoadResult],
    transform: TransformResult | None,
    error: str | None,
) -> RunRecord:
    """The finished ledger row, totalled by the contract; ``error`` is a step's one sentence."""
    return RunRecord.from_results(
        request,
        stack=started.stack,
        orchestrator=started.orchestrator,
        started_at=started.started_at,
        loads=loads,
        transform=transform,
        error=error,
    )
