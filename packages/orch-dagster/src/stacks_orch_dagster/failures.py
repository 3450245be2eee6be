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
    state.errors[step] = step_error(step, exc, warehouse)
    state.report(step, f"failed: {state.errors[step]}")
    return AssetStepFailed(step, state.errors[step])
