"""Running an installed stack once: the run lock taken by the runner, not by the port."""

from __future__ import annotations

from stacks_contract.models import RunRecord, RunRequest
from stacks_contract.ports import Reporter, Stack, silent
from stacks_contract.warehouse import Warehouse

from stacks_core.runlock import run_lock

__all__ = ["run_stack"]


def run_stack(
    stack: Stack,
    warehouse: Warehouse,
    request: RunRequest | None = None,
    report: Reporter = silent,
    *,
    wait: bool = False,
) -> RunRecord:
    """Run ``stack`` once on ``warehouse``, holding its run lock (:mod:`stacks_core.runlock`):
    another run of it raises :class:`~stacks_contract.errors.RunLocked` at once, or is waited
    for with ``wait=True``. The stack's session (a demo source, say) is up for the run."""
    request = request or RunRequest(stack=stack.name)
    with run_lock(warehouse, stack.name, request, wait=wait), stack.session(warehouse):
        # the tools are imported and the transform parsed here: seconds a user should not
        # spend looking at a silent terminal
        report(stack.name, "loading the orchestrator and the steps (tools, transform project)")
        orchestrator = stack.orchestrator()
        spec = stack.spec(warehouse)
        return orchestrator.run(spec, request, warehouse, report)
