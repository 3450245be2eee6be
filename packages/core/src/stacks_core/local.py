"""The reference orchestrator: every step called directly, in-process, one after another.

It is the baseline the real orchestrators are compared with (in the benchmarks and the suites):
whatever Dagster, Airflow or Temporal add, the warehouse must end up exactly as after this, and
the ledger must read the same.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from stacks_contract.errors import StacksError, StepFailed
from stacks_contract.models import (
    LoadResult,
    RunRecord,
    RunRequest,
    StackRef,
    StackSpec,
    TransformResult,
)
from stacks_contract.ports import Orchestrator, Reporter, silent
from stacks_contract.selection import resolve
from stacks_contract.warehouse import Warehouse, redact

from stacks_core.ledger import Ledger
from stacks_core.registry import load_stack
from stacks_core.retry import retry_transient

__all__ = ["LocalJob", "LocalOrchestrator", "step_error"]

T = TypeVar("T")


def step_error(step: str, exc: BaseException, warehouse: Warehouse) -> str:
    """The one sentence a failed step leaves in the ledger, whichever orchestrator ran it."""
    if isinstance(exc, StepFailed):
        return redact(str(exc), warehouse)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not isinstance(exc, StacksError):  # a tool's exception: its type says what kind of error
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return redact(f"Step {step!r} failed: {first}", warehouse)


@dataclass(frozen=True)
class LocalJob:
    """What :meth:`LocalOrchestrator.build` returns: the stack ``ref`` names, run on call."""

    orchestrator: LocalOrchestrator
    ref: StackRef

    def __call__(self, request: RunRequest | None = None, report: Reporter = silent) -> RunRecord:
        stack = load_stack(self.ref.stack)
        warehouse = self.ref.resolve_warehouse()
        request = request or RunRequest(stack=self.ref.stack)
        with stack.session(warehouse):
            return self.orchestrator.run(stack.spec(warehouse), request, warehouse, report)


class LocalOrchestrator(Orchestrator):
    """Runs the selected EL steps in the stack's order, then the selected transform nodes.

    The selection is :func:`~stacks_contract.selection.resolve`'s, checked (with the manifest)
    before the ledger row is written: a bad name raises :class:`ConfigError` and nothing runs.
    """

    supports_partial_runs: ClassVar[bool] = True
    name = "local"

    def __init__(self, *, attempts: int = 4, retry_delay: float = 1.0) -> None:
        self.attempts = attempts
        self.retry_delay = retry_delay

    def _again(self, fn: Callable[[], T], report: Reporter) -> T:
        """``fn()``, retried with backoff while it fails transiently (the warehouse restarting,
        a connection lost); any other failure at once."""

        def retrying(attempt: int, exc: BaseException, wait: float) -> None:
            report("local", f"attempt {attempt} failed (transient), retrying in {wait:g} s: {exc}")

        return retry_transient(
            fn, attempts=self.attempts, first=self.retry_delay, on_retry=retrying
        )

    def build(self, ref: StackRef) -> LocalJob:
        return LocalJob(self, ref)

    def run(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        report: Reporter = silent,
    ) -> RunRecord:
        selection = resolve(stack, request.select, request.exclude, warehouse=warehouse)
        record = Ledger(warehouse).start(stack.name, self.name, request)
        loads: list[LoadResult] = []

        def finish(error: str | None = None, transform: TransformResult | None = None) -> RunRecord:
            done = RunRecord.from_results(
                request,
                stack=stack.name,
                orchestrator=self.name,
                started_at=record.started_at,
                loads=loads,
                transform=transform,
                transform_step=stack.transform.name if stack.transform else "transform",
                error=error,
            )
            Ledger(warehouse).record(done)
            return done

        for name in selection.steps:
            step = stack.step(name)
            report(step.name, "running")
            try:
                loads.append(
                    self._again(functools.partial(step.run, request, warehouse, report), report)
                )
            except Exception as exc:  # any tool error becomes a failed run naming the step
                partial = getattr(exc, "result", None)  # the tables that did load (el-dlt's)
                if isinstance(partial, LoadResult):
                    loads.append(partial)
                return finish(step_error(step.name, exc, warehouse))
        if stack.transform is None or not selection.runs_transform:
            return finish()
        transform = stack.transform
        report(transform.name, "running")
        sub = request.model_copy(update={"select": selection.transform_select(), "exclude": ()})
        try:
            result = self._again(lambda: transform.run(sub, warehouse, report), report)
        except Exception as exc:
            # a transform that failed part-way may carry what it did build (dbt does)
            partial = getattr(exc, "result", None)
            if not isinstance(partial, TransformResult):
                partial = None
            return finish(step_error(transform.name, exc, warehouse), partial)
        return finish(transform=result)
