"""The orchestrator suite's retry checks: a transient failure (a real Postgres restart mid-load
and mid-transform) is retried with backoff and the run converges; a permanent one (a SQL error)
is attempted once. Mixed into :class:`~stacks_testing.suites.BaseOrchestratorSuite`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from stacks_contract.models import RunRecord, RunStatus, StackSpec
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_core.ledger import Ledger

from stacks_testing import reference as ref
from stacks_testing import transient
from stacks_testing.suites import _common as c
from stacks_testing.suites.harness import OrchestratorHarness


class RetryChecks:
    """Needs the suite's fixtures (``orchestrator_harness``, ``suite_stack``, ...) and
    ``run_stack``."""

    run_stack: Callable[..., RunRecord]

    def test_warehouse_restart_mid_run_is_retried(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        suite_source_dir: Path,
        warehouse: Warehouse,
    ) -> None:
        """Postgres restarts (pg_ctl restart -m fast) in the middle of an EL step's load and
        again between two models of the transform: both are retried, the run succeeds, and the
        warehouse equals a clean run's."""
        if not isinstance(warehouse, PostgresWarehouse):
            pytest.skip("a warehouse restart is a Postgres server fault; this is the DuckDB run")
        from stacks_testing.postgres import local_cluster

        with local_cluster() as server:  # its own server: the shared one is never restarted
            restarted, clean = server.create_database(), server.create_database()
            attempts = transient.Attempts(restart=server.restart)
            stack = transient.counted_stack(suite_source_dir, attempts, name=suite_stack.name)
            record = self.run_stack(orchestrator_harness, stack, restarted)
            assert record.status == RunStatus.SUCCEEDED, (
                f"a run with a warehouse restart mid-load failed: {record.error}"
            )
            assert attempts.restarts == ["orders", "sql"], (
                f"the restarts did not happen where planned: {attempts.restarts}"
            )
            # EL steps may run in parallel: a step retried together with its neighbour may
            # meet its DDL once more (a catalog race, transient too), so "at least twice"
            assert attempts.counts["orders"] >= 2 and attempts.counts["sql"] == 2, (
                f"each restarted step should have run again: {dict(attempts.counts)}"
            )
            ledger = Ledger(restarted).get(record.run_id)
            assert ledger is not None and ledger.status == RunStatus.SUCCEEDED, (
                f"the ledger says {ledger}"
            )
            plain = ref.reference_stack(suite_source_dir, name=suite_stack.name)
            again = self.run_stack(orchestrator_harness, plain, clean)
            assert again.status == RunStatus.SUCCEEDED, f"the clean run failed: {again.error}"
            assert plain.transform is not None
            tables = [
                *(t for st in plain.el_steps for t in st.produces()),
                *plain.transform.produces(),
            ]
            got, want = c.fp(restarted, tables), c.fp(clean, tables)
            assert got == want, (
                f"the restarted run differs from a clean run:\n  {c.explain(want, got)}"
            )

    def test_permanent_failure_is_attempted_once(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        suite_source_dir: Path,
        warehouse: Warehouse,
    ) -> None:
        """A model reading a missing table (a SQL error no retry fixes) fails the run after one
        attempt, with the database's sentence."""
        attempts = transient.Attempts()
        stack = transient.counted_stack(
            suite_source_dir, attempts, name=suite_stack.name, bad_model=True
        )
        record = self.run_stack(orchestrator_harness, stack, warehouse)
        assert record.status == RunStatus.FAILED, "a run with a broken model did not fail"
        assert record.error and "no_such_table" in record.error, (
            f"the error does not carry the database's sentence: {record.error!r}"
        )
        assert attempts.counts["sql"] == 1, (
            f"a permanent error was attempted {attempts.counts['sql']} times, not once"
        )
        ledger = Ledger(warehouse).get(record.run_id)
        assert ledger is not None and ledger.status == RunStatus.FAILED, f"the ledger: {ledger}"
        assert ledger.error == record.error
