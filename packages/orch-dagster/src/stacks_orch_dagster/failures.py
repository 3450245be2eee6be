"""How a failing asset reports: one sentence, the same one the ledger and Dagster's UI show."""

from __future__ import annotations

from stacks_contract.errors import StacksError
from stacks_contract.local import step_error
from stacks_contract.warehouse import Warehouse

from stacks_orch_dagster.runstate import RunState

__all__ = ["AssetStepFailed", "fail"]


class AssetStepFailed(StacksError):
    """What an asset raises: the step's one sentence, so Dagster's UI and the ledger sensors show
    the same text the RunRecord carries (the original exception stays its ``__cause__``)."""

    def __init__(self, step: str, sentence: str) -> None:
        super().__init__(sentence)
        self.step = step


def fail(state: RunState, step: str, exc: BaseException, warehouse: Warehouse) -> AssetStepFailed:
    """Record ``exc`` as ``step``'s error for this run and return the exception to raise."""
    state.interrupted = state.interrupted or _is_interrupt(exc)
    state.errors[step] = step_error(step, exc, warehouse)
    state.report(step, f"failed: {state.errors[step]}")
    return AssetStepFailed(step, state.errors[step])


def _is_interrupt(exc: BaseException | None) -> bool:
    """Dagster raises its interrupt error inside the step; a tool may have wrapped it (dbt's
    runner keeps only its name in the message)."""
    seen = 0
    while exc is not None and seen < 20:
        name = type(exc).__name__
        if name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt") or (
            "DagsterExecutionInterruptedError" in str(exc)
        ):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
