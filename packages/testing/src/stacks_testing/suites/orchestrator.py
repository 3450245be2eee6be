"""The orchestrator conformance suite: what every
:class:`~stacks_contract.ports.Orchestrator` must do.

Override the ``orchestrator_harness`` fixture in a subclass. The suite runs a tool-free stack built
from :mod:`stacks_testing.reference` (EL steps ``customers`` and ``orders``, a SQL
transform reading both), so an orchestrator must run any ELStep/Transform through the ports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    RunRecord,
    RunRequest,
    RunStatus,
    StackSpec,
    TableRef,
    new_run_id,
)
from stacks_contract.selection import resolve
from stacks_contract.warehouse import Warehouse
from stacks_core.ledger import Ledger

from stacks_testing import reference as ref
from stacks_testing.runner import runner_command
from stacks_testing.suites import _common as c
from stacks_testing.suites.harness import OrchestratorHarness
from stacks_testing.suites.orchestrator_retries import RetryChecks
from stacks_testing.suites.orchestrator_selection import SelectionChecks
from stacks_testing.suites.orchestrator_window import WindowChecks

STACK = "conformance"


def el_tables(stack: StackSpec) -> list[TableRef]:
    return [t for s in stack.el_steps for t in s.produces()]


def all_tables(stack: StackSpec) -> list[TableRef]:
    return el_tables(stack) + list(stack.transform.produces() if stack.transform else ())


def transform_of(stack: StackSpec) -> Any:
    """The stack's transform; the suite stack has one."""
    assert stack.transform is not None, f"the stack {stack.name!r} has no transform"
    return stack.transform


def _needs_partial_runs(harness: OrchestratorHarness) -> None:
    orchestrator = harness.make_orchestrator()
    if not orchestrator.supports_partial_runs:
        pytest.skip(f"{type(orchestrator).__name__}.supports_partial_runs is off (capability flag)")


class BaseOrchestratorSuite(RetryChecks, WindowChecks, SelectionChecks):
    """Runs the reference stack through the orchestrator under test. Not collected (``Base``)."""

    kill_points: ClassVar[int] = 3

    @pytest.fixture
    def orchestrator_harness(self, warehouse: Warehouse, tmp_path: Path) -> OrchestratorHarness:
        raise NotImplementedError(
            "override the orchestrator_harness fixture in your suite subclass"
        )

    @pytest.fixture
    def suite_source_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "suite-source"

    @pytest.fixture
    def suite_stack(self, suite_source_dir: Path) -> StackSpec:
        return ref.reference_stack(suite_source_dir, name=STACK)

    @staticmethod
    def run_stack(
        harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
        run_id: str | None = None,
        select: tuple[str, ...] = (),
    ) -> RunRecord:
        request = RunRequest(run_id=run_id or new_run_id(), stack=suite_stack.name, select=select)
        record = harness.make_orchestrator().run(suite_stack, request, warehouse)
        assert isinstance(record, RunRecord), f"run() returned {type(record).__name__}"
        assert record.run_id == request.run_id, "the RunRecord carries another run id"
        return record

    def test_run_succeeds_and_is_recorded(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
    ) -> None:
        record = self.run_stack(orchestrator_harness, suite_stack, warehouse)
        assert record.status == RunStatus.SUCCEEDED, f"run failed: {record.error}"
        assert record.finished_at is not None
        absent = c.missing(warehouse, all_tables(suite_stack))
        assert not absent, f"tables missing after a successful run: {absent}"
        ledger = Ledger(warehouse).get(record.run_id)
        assert ledger is not None, "the run is not in the run ledger"
        assert ledger.status == RunStatus.SUCCEEDED, f"the ledger says {ledger.status}"
        actual = c.counts(warehouse, el_tables(suite_stack))
        for name, rows in (("RunRecord", record.rows), ("ledger", ledger.rows)):
            reported = {k: rows.get(k) for k in actual}
            assert reported == actual, f"{name} rows {rows}, the warehouse holds {actual}"

    def test_one_run_equals_three_runs(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
    ) -> None:
        tables = all_tables(suite_stack)
        first = self.run_stack(orchestrator_harness, suite_stack, warehouse)
        assert first.status == RunStatus.SUCCEEDED, f"run failed: {first.error}"
        once = c.fp(warehouse, tables)
        for _ in range(2):
            again = self.run_stack(orchestrator_harness, suite_stack, warehouse)
            assert again.status == RunStatus.SUCCEEDED, f"rerun failed: {again.error}"
        thrice = c.fp(warehouse, tables)
        assert thrice == once, f"3 runs differ from 1 run:\n  {c.explain(once, thrice)}"

    def test_run_id_reaches_every_step(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
    ) -> None:
        run_id = new_run_id()
        record = self.run_stack(orchestrator_harness, suite_stack, warehouse, run_id=run_id)
        assert record.status == RunStatus.SUCCEEDED, f"run failed: {record.error}"
        problems = c.run_id_problems(warehouse, all_tables(suite_stack), run_id)
        assert not problems, "rows not stamped with the run id:\n  " + "\n  ".join(problems)

    def test_failing_step_fails_the_run(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        suite_source_dir: Path,
        warehouse: Warehouse,
    ) -> None:
        with (suite_source_dir / "orders.jsonl").open("a") as f:
            f.write('{"id": 99, "this line is not json\n')
        record = self.run_stack(orchestrator_harness, suite_stack, warehouse)
        assert record.status == RunStatus.FAILED, "a run with a failing EL step did not fail"
        assert record.error and "orders" in record.error, (
            f"the error does not name the failing step 'orders': {record.error!r}"
        )
        built = c.existing(warehouse, transform_of(suite_stack).produces())
        assert not built, f"the transform ran although an EL step failed: {built} exist"
        ledger = Ledger(warehouse).get(record.run_id)
        assert ledger is not None and ledger.status == RunStatus.FAILED, (
            f"the ledger does not record the failure: {ledger}"
        )

    def test_partial_run_runs_the_step_and_its_dependents(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        suite_source_dir: Path,
        warehouse: Warehouse,
    ) -> None:
        _needs_partial_runs(orchestrator_harness)
        first = self.run_stack(orchestrator_harness, suite_stack, warehouse)
        assert first.status == RunStatus.SUCCEEDED, f"run failed: {first.error}"
        customers, orders = suite_stack.step("customers").table, suite_stack.step("orders").table
        before = c.counts(warehouse, [customers, orders])
        ref.ReferenceSource(suite_source_dir / "customers.jsonl").append(
            {"id": 100, "name": "customer 100", "country": "DE"}
        )
        ref.ReferenceSource(suite_source_dir / "orders.jsonl").append(
            {"id": 100, "customer_id": 1, "amount": 1000.0, "status": "placed"}
        )
        partial_id = new_run_id()
        record = self.run_stack(
            orchestrator_harness, suite_stack, warehouse, run_id=partial_id, select=("orders+",)
        )
        assert record.status == RunStatus.SUCCEEDED, f"partial run failed: {record.error}"
        after = c.counts(warehouse, [customers, orders])
        assert after[orders.key] == before[orders.key] + 1, "the selected step did not run"
        assert after[customers.key] == before[customers.key], (
            "a step that was not selected ran in a partial run"
        )
        downstream = transform_of(suite_stack).produces()
        stamped = c.rows_with_run_id(warehouse, downstream, partial_id)
        assert set(stamped) == {t.key for t in downstream}, (
            f"the transform depending on the selected step did not run: rebuilt {stamped}"
        )

    @pytest.mark.parametrize(
        "select",
        [
            ("orders",),
            ("customer_orders",),
            ("raw.customers+",),
            ("+top_customers",),
            ("orders+", "customer_orders"),
        ],
        ids=["step", "model", "table-downstream", "model-upstream", "mixed"],
    )
    def test_selection_runs_exactly_what_the_contract_resolves(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
        select: tuple[str, ...],
    ) -> None:
        _needs_partial_runs(orchestrator_harness)
        first = self.run_stack(orchestrator_harness, suite_stack, warehouse)
        assert first.status == RunStatus.SUCCEEDED, f"run failed: {first.error}"
        want = resolve(suite_stack, select)
        record = self.run_stack(orchestrator_harness, suite_stack, warehouse, select=select)
        assert record.status == RunStatus.SUCCEEDED, f"partial run failed: {record.error}"
        ran = (tuple(sorted(record.steps)), tuple(sorted(record.models)))
        expected = (tuple(sorted(want.steps)), tuple(sorted(want.models)))
        assert ran == expected, (
            f"--select {' '.join(select)} ran (steps, models) {ran}, expected {expected}"
        )
        ledger = Ledger(warehouse).get(record.run_id)
        assert (
            ledger is not None
            and (tuple(sorted(ledger.steps)), tuple(sorted(ledger.models))) == expected
        )

    def test_unknown_selection_is_a_config_error_before_anything_runs(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
    ) -> None:
        request = RunRequest(stack=suite_stack.name, select=("no_such_thing+",))
        with pytest.raises(ConfigError, match="no_such_thing"):
            orchestrator_harness.make_orchestrator().run(suite_stack, request, warehouse)
        ran = c.existing(warehouse, all_tables(suite_stack))
        assert not ran, f"tables were written for an invalid selection: {ran}"
        assert Ledger(warehouse).get(request.run_id) is None, (
            "an invalid selection left a ledger row"
        )

    def test_interrupted_run_converges(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
        warehouse_factory,
        tmp_path: Path,
    ) -> None:
        orchestrator = orchestrator_harness.orchestrator_factory()
        env = {
            **orchestrator_harness.subprocess_env(),
            ref.ENV_STACK: ref.stack_spec_json(suite_stack),
        }
        c.check_interrupted_converges(
            command=lambda run_id: runner_command(
                "stack",
                run_id,
                orchestrator=orchestrator,
                stack="stacks_testing.reference:stack_from_env",
            ),
            env=env,
            interrupted=warehouse,
            reference=warehouse_factory(),
            rerun=lambda wh: self._rerun(orchestrator_harness, suite_stack, wh),
            tables=lambda: all_tables(suite_stack),
            logs=tmp_path / "kill-logs",
            points=self.kill_points,
        )

    def _rerun(self, harness: OrchestratorHarness, suite_stack: StackSpec, wh: Warehouse) -> None:
        record = self.run_stack(harness, suite_stack, wh)
        assert record.status == RunStatus.SUCCEEDED, f"the re-run failed: {record.error}"

    def test_plan_errors_surface_before_any_step_runs(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
    ) -> None:
        transform = transform_of(suite_stack)
        bad_transform = ref.ReferenceSqlTransform(
            name=transform.name,
            models=transform.models,
            sources=(*transform.sources, TableRef(schema="raw", name="payments")),
            schema=transform.schema,
        )
        bad = suite_stack.model_copy(update={"transform": bad_transform})
        request = RunRequest(stack=bad.name)
        try:
            record = orchestrator_harness.make_orchestrator().run(bad, request, warehouse)
        except ConfigError as exc:
            assert "payments" in str(exc), f"the error does not name the missing table: {exc}"
        else:
            assert record.status == RunStatus.FAILED, "a stack with a bad manifest ran"
            assert record.error and "payments" in record.error, (
                f"the error does not name the missing table: {record.error!r}"
            )
        ran = c.existing(warehouse, all_tables(suite_stack))
        assert not ran, f"steps ran although the stack's plan is invalid: {ran} exist"
