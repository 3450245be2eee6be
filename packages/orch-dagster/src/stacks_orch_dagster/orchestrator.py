"""The contract's orchestrator port over Dagster."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from stacks_contract.errors import StacksError
from stacks_contract.models import RunRecord, RunRequest, RunStatus, StackRef, StackSpec
from stacks_contract.ports import Orchestrator, Reporter, UiCommand, silent
from stacks_contract.selection import Selection, resolve
from stacks_contract.warehouse import Warehouse, redact
from stacks_core.ledger import INTERRUPTED_SENTENCE, Ledger
from stacks_core.registry import load_stack

from stacks_orch_dagster.definitions import StackDefinitions, build_definitions
from stacks_orch_dagster.runstate import (
    TAG_RECORDED,
    RunState,
    register,
    tags_for,
    unregister,
    warehouse_tag,
)

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
    """An in-memory Dagster instance, telemetry off: a CLI run leaves nothing in DAGSTER_HOME;
    its scratch folder is removed afterwards, or by the next run if this one is killed."""
    from dagster import DagsterInstance
    from stacks_core.state import run_scratch

    with (
        run_scratch("dagster") as tmp,
        DagsterInstance.ephemeral(
            tempdir=str(tmp), settings={"telemetry": {"enabled": False}}
        ) as instance,
    ):
        yield instance


#: where ``stacks ui`` keeps the Dagster instance (relative to the working directory)
UI_HOME = Path(".stacks") / "dagster"


@contextlib.contextmanager
def run_instance() -> Iterator[Any]:
    """The instance an in-process run records into: ``$DAGSTER_HOME`` when set, else the one
    ``stacks ui`` created under ``./.stacks/dagster`` (so CLI runs show up in the UI), else
    an ephemeral one."""
    home = os.environ.get("DAGSTER_HOME")
    if not home and (UI_HOME / "dagster.yaml").exists():
        home = str(UI_HOME.absolute())
    if not home:
        with ephemeral_instance() as instance:
            yield instance
        return
    from dagster import DagsterInstance

    with DagsterInstance.from_config(home) as instance:
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

    With the ``[dlt]`` / ``[dbt]`` extras, el-dlt steps become dagster-dlt assets and dbt
    transforms dagster-dbt assets with dbt tests as asset checks; any other step (or every step
    with ``native=False``) runs through its port. Every asset retries a transient failure (the
    warehouse restarting, a connection lost) with exponential backoff (``retries`` times, first
    delay ``retry_delay`` s); any other failure fails its step at once. Definitions are built
    once per (stack, warehouse) and reused by later runs. :meth:`build` gives the ``Definitions`` a
    ``dagster dev`` / ``dagster-webserver`` loads.
    """

    name = "dagster"
    supports_partial_runs: ClassVar[bool] = True

    #: ``partitions``: a Dagster ``TimeWindowPartitionsDefinition`` (e.g.
    #: ``DailyPartitionsDefinition(start_date="2026-01-01")``) for the Definitions :meth:`build`
    #: gives Dagster: a partition's run, or a backfill of a range of them (one run), is a window
    #: run (``RunRequest.window``); ``run()`` takes the window from its request instead.

    def __init__(
        self,
        *,
        retries: int = 3,
        retry_delay: float = 1.0,
        dbt_runner: str = "in-process",
        native: bool = True,
        partitions: Any = None,
    ) -> None:
        self.retries = retries
        self.retry_delay = retry_delay
        self.dbt_runner = dbt_runner
        self.native = native
        self.partitions = partitions
        self._cache: dict[tuple[int, str, bool], tuple[StackSpec, StackDefinitions]] = {}

    def build(self, ref: StackRef) -> StackDefinitions:
        """The stack ``ref`` names, as Definitions (``.defs``) for Dagster's tools (partitioned
        when the orchestrator has ``partitions``)."""
        quiet_env()
        warehouse = ref.resolve_warehouse()
        spec = load_stack(ref.stack).spec(warehouse)
        return self.definitions(spec, warehouse, partitioned=True)

    def state_paths(self, stack: StackSpec, warehouse: Warehouse) -> tuple[Path, ...]:
        """The instance ``stacks ui`` keeps under ``./.stacks/dagster`` (never a DAGSTER_HOME
        the user set)."""
        home = UI_HOME.absolute()
        return (home,) if home.is_dir() else ()

    def ui_command(self, ref: StackRef, *, home: Path, port: int) -> UiCommand:
        """``dagster dev`` on :mod:`stacks_orch_dagster.ui` (the stack ``ref`` names), with
        ``DAGSTER_HOME=home`` (telemetry off), on 127.0.0.1:``port``."""
        write_dagster_home(home)
        return UiCommand(
            argv=(
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-m",
                "stacks_orch_dagster.ui",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ),
            url=f"http://127.0.0.1:{port}",
            env={
                **QUIET_ENV,
                "DAGSTER_HOME": str(home),
                "STACKS_UI_STACK": ref.stack,
                "STACKS_UI_WAREHOUSE_ENV": ref.warehouse_env,
                # dagster's "superseded, use dg dev" warning is not for stacks users
                "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore"),
            },
        )

    def definitions(
        self, stack: StackSpec, warehouse: Warehouse, *, partitioned: bool = False
    ) -> StackDefinitions:
        """The stack's Definitions, built once per (stack, warehouse). ``partitioned``: with the
        orchestrator's ``partitions`` (what :meth:`build` gives Dagster's tools); :meth:`run`
        uses unpartitioned ones and hands a window to the steps itself."""
        quiet_env()
        partitioned = partitioned and self.partitions is not None
        key = (id(stack), warehouse.model_dump_json(), partitioned)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is stack:
            return hit[1]
        sd = build_definitions(
            stack,
            warehouse,
            retries=self.retries,
            retry_delay=self.retry_delay,
            dbt_runner=self.dbt_runner,
            native=self.native,
            partitions=self.partitions if partitioned else None,
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
        selection = resolve(
            stack, request.select, request.exclude, warehouse=warehouse
        )  # ConfigError: nothing ran
        ledger = Ledger(warehouse)
        record = ledger.start(stack.name, self.name, request)  # unreachable: raises, nothing ran
        state = register(request, report)
        try:
            error = self._execute(stack, request, warehouse, state, selection)
        except Exception as exc:  # building definitions failed: still one ledger row, no raise
            error = redact(
                str(exc) if isinstance(exc, StacksError) else f"{type(exc).__name__}: {exc}",
                warehouse,
            )
        finally:
            unregister(request.run_id)
        done = RunRecord.from_results(
            request,
            stack=stack.name,
            orchestrator=self.name,
            started_at=record.started_at,
            loads=list(state.loads.values()),
            transform=state.transform,
            transform_step=stack.transform.name if stack.transform else "transform",
            error=error,
        )
        if state.interrupted:
            # Dagster turned the signal into failed steps; to the caller it is what it was
            done = done.model_copy(
                update={"status": RunStatus.INTERRUPTED, "error": INTERRUPTED_SENTENCE}
            )
        ledger.record(done)
        if state.interrupted:
            raise KeyboardInterrupt
        return done

    def _execute(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        state: RunState,
        selection: Selection,
    ) -> str | None:
        state.report("dagster", "loading definitions")
        sd = self.definitions(stack, warehouse)
        # the stack's own job (named after it, as in the UI), not an ephemeral one
        job = sd.defs.resolve_job_def(sd.job_name)
        state.report("dagster", f"running {request.run_id}")
        with run_instance() as instance:
            result = job.execute_in_process(
                instance=instance,
                tags={**tags_for(request, warehouse_tag(warehouse)), TAG_RECORDED: self.name},
                asset_selection=sd.selected_keys(selection),
                raise_on_error=False,
                # progress goes through the Reporter and failures into the RunRecord;
                # Dagster's own log stream (DEBUG steps, ERROR tracebacks) would repeat them
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
            # a transform that ran and is not ok is described by RunRecord.from_results from
            # its result (the same sentence under every orchestrator); other errors are ours
            state.interrupted = state.interrupted or _interrupted(result)
            transform = stack.transform.name if stack.transform is not None else None
            ran_not_ok = state.transform is not None and not state.transform.ok
            errors = {k: v for k, v in state.errors.items() if not (k == transform and ran_not_ok)}
            if errors:
                return next(iter(errors.values()))
            if result.success or ran_not_ok:
                return None
            return _dagster_failure(result)


#: a step failure for one of these is an interrupt: Dagster's own, or a tool that caught the
#: signal itself (dlt's normalize and load install their own SIGINT handler and raise this)
_INTERRUPTS = frozenset(
    {"DagsterExecutionInterruptedError", "KeyboardInterrupt", "SignalReceivedException"}
)


def _interrupted(result: Any) -> bool:
    """Whether a step failed because of an interrupt (SIGINT/SIGTERM)."""
    for event in result.all_events:
        info = event.step_failure_data.error if event.is_step_failure else None
        while info is not None:
            if info.cls_name in _INTERRUPTS:
                return True
            info = info.cause
    return False


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
