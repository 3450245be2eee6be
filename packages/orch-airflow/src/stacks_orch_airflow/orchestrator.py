"""The contract's orchestrator port over Apache Airflow 3."""

from __future__ import annotations

import gc
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from stacks_contract.models import (
    RunRecord,
    RunRequest,
    RunStatus,
    StackRef,
    StackSpec,
    utcnow,
)
from stacks_contract.ports import Orchestrator, Reporter, silent
from stacks_contract.selection import resolve
from stacks_contract.warehouse import Warehouse, redact
from stacks_core.ledger import INTERRUPTED_SENTENCE, Ledger

from stacks_orch_airflow import home as _home
from stacks_orch_airflow.binding import Bound, FromRef, register_reporter
from stacks_orch_airflow.dag import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY, _dbt_module, build_dag
from stacks_orch_airflow.inprocess import newest_execution_api, quiet_airflow, set_dbt_extra_args
from stacks_orch_airflow.interrupts import catching, stop_if_interrupted, stop_on_interrupt
from stacks_orch_airflow.tasks import CONF_KEY

__all__ = ["AirflowOrchestrator"]


def _quiet_wanted(log_level: int) -> bool:
    """Airflow's INFO lines stay out of a run unless the orchestrator asks for them
    (``log_level=logging.INFO``) or the CLI runs with ``-v``."""
    if log_level <= logging.INFO:
        return False
    from stacks_core.verbosity import verbosity

    return verbosity() <= 0


def _retry_delay(value: float | timedelta) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


class AirflowOrchestrator(Orchestrator):
    """Runs a stack as an Airflow DAG.

    :meth:`build` gives the DAG of a :class:`StackRef` (what a DAG file exposes to the scheduler);
    :meth:`run` builds the DAG of a spec and runs it in-process with ``dag.test()`` against the
    SQLite metadata DB under ``./.stacks/airflow`` (migrated once), then returns the ledger row
    the DAG's own ``stacks_finish`` task wrote. Every task retries ``retries`` times with
    exponential backoff from ``retry_delay`` (seconds or a timedelta).
    """

    name = "airflow"
    supports_partial_runs: ClassVar[bool] = True

    def __init__(
        self,
        *,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float | timedelta = DEFAULT_RETRY_DELAY,
        dbt: bool | None = None,
        log_level: int = logging.WARNING,
    ) -> None:
        self.retries = retries
        self.retry_delay = _retry_delay(retry_delay)
        self.dbt = dbt
        self.log_level = log_level
        self._dags: dict[tuple[int, str], tuple[StackSpec, Any]] = {}
        #: stack DAG id -> the trigger DAGs :meth:`build` made beside it
        self.trigger_dags: dict[str, list[Any]] = {}

    def state_paths(self, stack: StackSpec, warehouse: Warehouse) -> tuple[Path, ...]:
        """The default Airflow home ``./.stacks/airflow`` (metadata DB, logs, DAG files); never
        an ``AIRFLOW_HOME`` the user chose."""
        home = _home.airflow_home()
        default = Path.cwd() / ".stacks" / "airflow"
        return (home,) if home == default and home.is_dir() else ()

    def build(self, ref: StackRef) -> Any:
        """The DAG of ``ref``, plus one DAG per event trigger (see :mod:`.triggers`; Airflow
        collects them from the DAG file as it does every DAG built in a ``with DAG`` block).
        Touches neither source nor warehouse."""
        from stacks_orch_airflow.triggers import build_trigger_dags

        _home.configure()
        binding = FromRef(ref)
        spec = binding.spec()
        dag = build_dag(
            spec,
            binding,
            retries=self.retries,
            retry_delay=self.retry_delay,
            dbt=self.dbt,
        )
        self.trigger_dags[dag.dag_id] = build_trigger_dags(spec, binding, dag.dag_id)
        return dag

    def dag(self, stack: StackSpec, warehouse: Warehouse) -> Any:
        """The in-process DAG of ``stack`` on ``warehouse``, built once per pair."""
        key = (id(stack), warehouse.model_dump_json())
        hit = self._dags.get(key)
        if hit is not None and hit[0] is stack:
            return hit[1]
        dag = build_dag(
            stack,
            Bound(stack, warehouse),
            retries=self.retries,
            retry_delay=self.retry_delay,
            dbt=self.dbt,
            pre_execute=stop_if_interrupted,
        )
        stop_on_interrupt(dag)
        self._dags[key] = (stack, dag)  # keeps ``stack`` alive, so its id stays unique
        return dag

    def _test(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        report: Reporter,
        quiet: bool,
        interrupted: Any,
    ) -> Any:
        """Prepare the metadata DB and this process, then ``dag.test()`` the stack's DAG (None
        when an interrupt reached ``dag.test()``'s own loop)."""
        dbt = None if self.dbt is False else _dbt_module(stack, self.dbt)
        if dbt is not None:
            dbt.prime(stack, warehouse, report)  # one parse: the table manifest and every dbt task
        resolve(stack, request.select, request.exclude)  # ConfigError: nothing ran
        _home.configure()
        report("airflow", "preparing the metadata DB")
        _home.ensure_db()
        _home.tune_sqlite()
        dag = self.dag(stack, warehouse)
        _register(dag)
        newest_execution_api()
        set_dbt_extra_args(("--log-level", "none") if quiet else ())
        register_reporter(request.run_id, report)
        # Cosmos (and our DuckDB release) run gc.collect() after every dbt task; with Airflow,
        # dbt and the stack imported that walks every object of the process, ~1 s a time. What
        # exists before the run is long-lived: move it out of the collector's sight meanwhile.
        gc.freeze()
        try:
            report("airflow", f"running DAG {dag.dag_id} ({request.run_id})")
            try:
                conf = {CONF_KEY: request.model_dump(mode="json", by_alias=True)}
                return dag.test(run_conf=conf)
            except KeyboardInterrupt:
                interrupted.set()  # it reached dag.test()'s own loop
                return None
        finally:
            gc.unfreeze()
            set_dbt_extra_args(())
            register_reporter(request.run_id, None)

    def run(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        report: Reporter = silent,
    ) -> RunRecord:
        quiet = _quiet_wanted(self.log_level)
        started = utcnow()
        with quiet_airflow(quiet), catching() as interrupted:
            dag_run = self._test(stack, request, warehouse, report, quiet, interrupted)
        state = str(getattr(dag_run, "state", "") or "") if not interrupted.is_set() else ""
        if interrupted.is_set():
            # Airflow would have retried the interrupted task away; to the caller (and in the
            # ledger, where the DAG's teardown may have written "failed") it is what it was
            ledger = Ledger(warehouse)
            record = ledger.get(request.run_id)
            if record is not None and record.status in (RunStatus.RUNNING, RunStatus.FAILED):
                ledger.record(
                    record.model_copy(
                        update={
                            "status": RunStatus.INTERRUPTED,
                            "finished_at": utcnow(),
                            "error": INTERRUPTED_SENTENCE,
                        }
                    )
                )
            raise KeyboardInterrupt
        record = Ledger(warehouse).get(request.run_id)
        if record is not None and record.status != RunStatus.RUNNING:
            if state == "failed" and record.status == RunStatus.SUCCEEDED:
                record = record.model_copy(
                    update={"status": RunStatus.FAILED, "error": "The Airflow DAG run failed."}
                )
                Ledger(warehouse).record(record)
            return record
        # the DAG run ended before its teardown could record it (the start task failed, say)
        failed = RunRecord(
            run_id=request.run_id,
            stack=stack.name,
            orchestrator=self.name,
            trigger=request.trigger,
            status=RunStatus.FAILED,
            started_at=record.started_at if record is not None else started,
            finished_at=utcnow(),
            error=redact(f"The Airflow DAG run ended {state or 'without a state'}.", warehouse),
        )
        Ledger(warehouse).record(failed)
        return failed


def _register(dag: Any) -> None:
    """Make the metadata DB know ``dag`` (``dag.test()`` needs its DagModel and DagVersion)
    without parsing a DAG file: the in-process DAG is written as the dags-folder bundle's."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"], collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
