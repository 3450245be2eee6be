"""The contract's orchestrator port over Dagster."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from stacks_contract.errors import StacksError
from stacks_contract.ledger import Ledger
from stacks_contract.models import (
    NodeStatus,
    RunRecord,
    RunRequest,
    RunStatus,
    StackSpec,
    utcnow,
)
from stacks_contract.ports import Orchestrator, Reporter, silent
from stacks_contract.warehouse import Warehouse, redact

from stacks_orch_dagster.definitions import StackDefinitions, build_definitions
from stacks_orch_dagster.runstate import RunState, register, tags_for, unregister

#: keep every tool off the network; setdefault so a user's explicit choice wins
QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


def quiet_env() -> None:
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)


@contextlib.contextmanager
def ephemeral_instance() -> Iterator[Any]:
    """An in-memory Dagster instance, telemetry off: a CLI run leaves nothing in DAGSTER_HOME
    (and its scratch folder is removed afterwards)."""
    from dagster import DagsterInstance

    with (
        tempfile.TemporaryDirectory(prefix="stacks-dagster-") as tmp,
        DagsterInstance.ephemeral(
            tempdir=tmp, settings={"telemetry": {"enabled": False}}
        ) as instance,
    ):
        yield instance


def write_dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME for ``dagster dev`` with telemetry off (dagster reads it before our code)."""
    path.mkdir(parents=True, exist_ok=True)
    cfg = path / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text("telemetry:\n  enabled: false\n")
    return path


class DagsterOrchestrator(Orchestrator):
    """Runs a stack as Dagster assets, in-process, and records it in the run ledger.

    dlt steps (duck-typed, see :mod:`.capabilities`) become dagster-dlt assets, dbt transforms
    dagster-dbt assets with dbt tests as asset checks; any other step runs through its port.
    EL assets retry with exponential backoff (``retries`` times, first delay ``retry_delay`` s).
    Definitions are built once per (stack, warehouse) and reused by later runs.
    """

    name = "dagster"
    supports_partial_runs: ClassVar[bool] = True

    def __init__(
        self, *, retries: int = 2, retry_delay: float = 1.0, dbt_runner: str = "in-process"
    ) -> None:
        self.retries = retries
        self.retry_delay = retry_delay
        self.dbt_runner = dbt_runner
        self._cache: dict[tuple[int, str], tuple[StackSpec, StackDefinitions]] = {}

    def definitions(self, stack: StackSpec, warehouse: Warehouse) -> StackDefinitions:
        quiet_env()
        key = (id(stack), warehouse.model_dump_json())
        hit = self._cache.get(key)
        if hit is not None and hit[0] is stack:
            return hit[1]
        sd = build_definitions(
            stack,
            warehouse,
            retries=self.retries,
            retry_delay=self.retry_delay,
            dbt_runner=self.dbt_runner,
        )
        self._cache[key] = (stack, sd)  # keeps ``stack`` alive, so its id stays unique
        return sd

    def run(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        report: Reporter = silent,
    ) -> RunRecord:
        quiet_env()
        ledger = Ledger(warehouse)
        record = ledger.start(stack.name, self.name, request)  # unreachable: raises, nothing ran
        state = register(request, report)
        try:
            error = self._execute(stack, request, warehouse, state)
        except Exception as exc:  # building definitions failed: still one ledger row, no raise
            error = redact(
                str(exc) if isinstance(exc, StacksError) else f"{type(exc).__name__}: {exc}",
                warehouse,
            )
        finally:
            unregister(request.run_id)
        record = self._finish(record, state, error)
        ledger.record(record)
        return record

    def _execute(
        self, stack: StackSpec, request: RunRequest, warehouse: Warehouse, state: RunState
    ) -> str | None:
        from dagster import materialize

        state.report("dagster", "loading definitions")
        sd = self.definitions(stack, warehouse)
        selection = sd.asset_selection(request.select)
        state.report("dagster", f"running {request.run_id}")
        with ephemeral_instance() as instance:
            result = materialize(
                sd.assets,
                instance=instance,
                tags=tags_for(request),
                selection=selection,
                raise_on_error=False,
                # progress goes through the Reporter and failures into the RunRecord;
                # Dagster's own log stream (DEBUG steps, ERROR tracebacks) would repeat them
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
            if result.success:
                if state.transform is not None and not state.transform.ok:
                    return next(iter(state.errors.values()), "the transform reported failures")
                return None
            if state.errors:
                return next(iter(state.errors.values()))
            return _dagster_failure(result)

    def _finish(self, record: RunRecord, state: RunState, error: str | None) -> RunRecord:
        rows: dict[str, int] = {}
        for load in state.loads.values():
            for table, n in load.rows.items():
                rows[table] = rows.get(table, 0) + int(n)
        t = state.transform
        return record.model_copy(
            update={
                "status": RunStatus.FAILED if error else RunStatus.SUCCEEDED,
                "finished_at": utcnow(),
                "rows": rows,
                "models_built": 0
                if t is None
                else sum(1 for m in t.models if m.status == NodeStatus.SUCCESS),
                "tests_passed": 0 if t is None else t.count(NodeStatus.PASS),
                "tests_failed": 0
                if t is None
                else t.count(NodeStatus.FAIL) + t.count(NodeStatus.ERROR),
                "error": error,
            }
        )


def _dagster_failure(result: Any) -> str:
    """One sentence from the first failed step of a Dagster run."""
    for event in result.all_events:
        if event.is_step_failure:
            info = event.step_failure_data.error
            while info is not None and info.cause is not None:
                info = info.cause
            msg = (info.message if info is not None else "").strip().splitlines()
            return f"Step {event.step_key!r} failed: {msg[0] if msg else 'unknown error'}"
    return "The Dagster run failed."
