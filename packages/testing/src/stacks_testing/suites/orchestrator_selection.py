"""The orchestrator suite's selection check with dbt: ``--select X`` runs the same models *and
the same tests* under every orchestrator as under the reference (the local orchestrator calling
``Transform.run``, i.e. ``dbt build --select``). An orchestrator that renders dbt itself (one
Airflow task per model, Dagster assets) must skip exactly what dbt would skip, tests reading two
models included. Mixed into :class:`~stacks_testing.suites.BaseOrchestratorSuite`.

The dbt project (``stacks_testing/selection_project``) stores every test's failures, so the tests
a run executed are the tables of its audit schema: what each run leaves in the warehouse, whoever
ran dbt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from stacks_contract.models import RunRecord, RunRequest, RunStatus, StackSpec
from stacks_contract.ports import Orchestrator
from stacks_contract.warehouse import DuckDBWarehouse, Warehouse
from stacks_core.local import LocalOrchestrator
from stacks_core.sql import connect, quote_ident

from stacks_testing.suites.harness import OrchestratorHarness

#: the dbt project a harness's :meth:`~OrchestratorHarness.dbt_transform` is built on
SELECTION_PROJECT = Path(__file__).resolve().parent.parent / "selection_project"
SCHEMA = "analytics"
AUDIT = f"{SCHEMA}_dbt_test__audit"
#: one model whose parent's relationships test must not run (the test reads two other models)
SELECT = ("customer_orders+",)


def _selected_run(
    orchestrator: Orchestrator, stack: StackSpec, warehouse: Warehouse
) -> tuple[RunRecord, set[str]]:
    """A full run, then the selection's run; the tests the latter executed (its audit tables)."""
    first = orchestrator.run(stack, RunRequest(stack=stack.name), warehouse)
    assert first.status == RunStatus.SUCCEEDED, f"{type(orchestrator).__name__}: {first.error}"
    with connect(warehouse) as conn:
        conn.execute(f"drop schema if exists {quote_ident(AUDIT)} cascade")
    record = orchestrator.run(stack, RunRequest(stack=stack.name, select=SELECT), warehouse)
    assert record.status == RunStatus.SUCCEEDED, f"{type(orchestrator).__name__}: {record.error}"
    with connect(warehouse) as conn:
        return record, {name for schema, name in conn.tables(AUDIT) if schema == AUDIT}


class SelectionChecks:
    """Needs the suite's fixtures (``orchestrator_harness``, ``suite_stack``, ...)."""

    def test_a_selection_runs_the_tests_dbt_selects(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
        warehouse_factory: Callable[[], Warehouse],
    ) -> None:
        if not isinstance(warehouse, DuckDBWarehouse):
            pytest.skip(
                "run once, on DuckDB: which tests a selection runs is dbt's graph, not the "
                "warehouse's (a Postgres run would repeat the DuckDB one)"
            )
        transform = orchestrator_harness.dbt_transform(SELECTION_PROJECT, SCHEMA)
        if transform is None:
            pytest.skip(
                f"{type(orchestrator_harness).__name__}: no dbt transform "
                f"({orchestrator_harness.no_dbt})"
            )
        stack = suite_stack.model_copy(update={"transform": transform})
        want, want_tests = _selected_run(LocalOrchestrator(), stack, warehouse_factory())
        got, got_tests = _selected_run(orchestrator_harness.make_orchestrator(), stack, warehouse)
        assert (got.steps, got.models) == (want.steps, want.models)
        assert want_tests, "the reference ran no test: the audit tables are not where expected"
        assert got_tests == want_tests, (
            f"--select {' '.join(SELECT)} ran the tests {sorted(got_tests)}; "
            f"dbt build --select runs {sorted(want_tests)}"
        )
