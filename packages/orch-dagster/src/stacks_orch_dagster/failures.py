"""How a failing asset reports: one sentence, the same one the ledger and Dagster's UI show.

A transient failure (:func:`stacks_core.retry.is_transient`: the warehouse restarting, a
connection lost) is retried with exponential backoff (Dagster's ``RetryRequested``); any other
failure is a ``Failure`` that bypasses retry policies: it fails the step at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import Failure, RetryRequested
from stacks_contract.errors import StacksError
from stacks_contract.warehouse import Warehouse
from stacks_core.local import step_error
from stacks_core.retry import backoff, is_transient

from stacks_orch_dagster.runstate import RunState

__all__ = ["AssetStepFailed", "Retries", "fail"]


@dataclass(frozen=True)
class Retries:
    """How often (``retries`` after the first attempt) and how soon (``delay`` s, doubling)
    a step is run again after a transient failure."""

    retries: int = 3
    delay: float = 1.0

    def policy(self) -> Any:
        """The same as a Dagster ``RetryPolicy`` (for errors raised outside our assets)."""
        from dagster import Backoff, RetryPolicy

        if self.retries <= 0:
            return None
        return RetryPolicy(max_retries=self.retries, delay=self.delay, backoff=Backoff.EXPONENTIAL)


class AssetStepFailed(StacksError, Failure):
    """What an asset raises: the step's one sentence, so Dagster's UI and the ledger sensors show
    the same text the RunRecord carries (the original exception stays its ``__cause__``). A
    Dagster ``Failure`` with retries disallowed: a retry cannot fix it."""

    def __init__(self, step: str, sentence: str) -> None:
        Failure.__init__(self, description=sentence, allow_retries=False)
        self.step = step

    def __str__(self) -> str:
        return self.description or ""


def fail(
    state: RunState,
    step: str,
    exc: BaseException,
    warehouse: Warehouse,
    context: Any = None,
    retries: Retries | None = None,
) -> Exception:
    """Record ``exc`` as ``step``'s error for this run and return the exception to raise:
    ``RetryRequested`` for a transient failure while retries are left (``context`` is the
    asset's), else :class:`AssetStepFailed`."""
    state.interrupted = state.interrupted or _is_interrupt(exc)
    sentence = step_error(step, exc, warehouse)
    state.errors[step] = sentence
    attempt = int(getattr(context, "retry_number", 0) or 0) + 1
    transient = not state.interrupted and is_transient(exc)
    if retries is not None and context is not None and transient:
        if attempt <= retries.retries:
            wait = backoff(attempt, first=retries.delay, cap=max(retries.delay, 30.0))
            state.report(step, f"attempt {attempt} failed, retrying in {wait:g} s: {sentence}")
            return RetryRequested(max_retries=retries.retries, seconds_to_wait=wait)
        if attempt > 1:
            sentence = f"{sentence} (gave up after {attempt} attempts)"
            state.errors[step] = sentence
    state.report(step, f"failed: {sentence}")
    return AssetStepFailed(step, sentence)


def _is_interrupt(exc: BaseException | None) -> bool:
    """Dagster raises its interrupt error inside the step; a tool may have wrapped it (dbt's
    runner keeps only its name in the message)."""
    seen = 0
    while exc is not None and seen < 20:
        name = type(exc).__name__
        if (
            isinstance(exc, KeyboardInterrupt)
            or name == "DagsterExecutionInterruptedError"
            or ("DagsterExecutionInterruptedError" in _text(exc))
        ):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _text(exc: BaseException) -> str:
    """``str(exc)``, or its arguments when ``__str__`` itself fails (dbt's ``ExceptionExit``,
    a click exception built without its message, raises AttributeError from ``str``)."""
    try:
        return str(exc)
    except Exception:
        return " ".join(map(repr, getattr(exc, "args", ()))) + repr(getattr(exc, "exception", ""))
