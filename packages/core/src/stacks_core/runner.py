"""Running an installed stack once: the run lock taken by the runner, not by the port."""

from __future__ import annotations

from collections.abc import Callable

from stacks_contract.models import RunRecord, RunRequest, RunStatus
from stacks_contract.ports import Reporter, Stack, silent
from stacks_contract.warehouse import Warehouse

from stacks_core.runlock import Lease, guarded, run_lock

__all__ = ["finish_lost", "run_stack"]


def run_stack(
    stack: Stack,
    warehouse: Warehouse,
    request: RunRequest | None = None,
    report: Reporter = silent,
    *,
    wait: bool = False,
    on_lock: Callable[[], None] | None = None,
) -> RunRecord:
    """Run ``stack`` once on ``warehouse``, holding its run lock (:mod:`stacks_core.runlock`):
    another run of it raises :class:`~stacks_contract.errors.RunLocked` at once, or is waited
    for with ``wait=True``; ``on_lock`` is called once the lock is held (before it, the run does
    not exist). The stack's session (a demo source, say) is up for the run. A run that loses the
    lock fails at its next step (``failed: ... lost the run lock``)."""
    request = request or RunRequest(stack=stack.name)
    with run_lock(warehouse, stack.name, request, wait=wait) as lease:
        if on_lock is not None:
            on_lock()
        with stack.session(warehouse):
            # the tools are imported and the transform parsed here: seconds a user should not
            # spend looking at a silent terminal
            report(stack.name, "loading the orchestrator and the steps (tools, transform project)")
            orchestrator = stack.orchestrator()
            spec = stack.spec(warehouse)
            record = orchestrator.run(spec, request, warehouse, guarded(report, lease))
        return finish_lost(record, lease, warehouse)


def finish_lost(record: RunRecord, lease: Lease, warehouse: Warehouse) -> RunRecord:
    """``record``, failed with the lease's sentence if the lock was lost during the run (part
    of it may have run beside another run: it must not read as succeeded)."""
    if lease.lost is None or (record.error and "lost the run lock" in record.error):
        return record
    from stacks_core.ledger import Ledger

    failed = record.model_copy(
        update={"status": RunStatus.FAILED, "error": f"{record.stack}: {lease.lost}"}
    )
    Ledger(warehouse).record(failed)
    return failed
