"""The EL conformance suite: what every :class:`~stacks_contract.ports.ELStep` must do.

Subclass it in ``tests/test_<pkg>_conformance.py`` and override the ``el_harness`` fixture::

    class TestMyConformance(BaseELSuite):
        @pytest.fixture
        def el_harness(self, warehouse, tmp_path) -> ELHarness:
            return MyHarness(tmp_path)

``warehouse`` is the plugin's fixture (parametrised over DuckDB and Postgres). Every check reads
the final warehouse state; none trusts what the step says about itself except where the check is
exactly that the step's report matches the warehouse.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from stacks_contract.models import LoadResult, RunRequest, new_run_id
from stacks_contract.warehouse import Warehouse

from stacks_testing.runner import runner_command
from stacks_testing.suites import _common as c
from stacks_testing.suites.harness import ELHarness

STACK = "conformance"


class BaseELSuite:
    """Checks the final warehouse state an EL step leaves behind. Not collected (``Base``)."""

    #: SIGKILL points in the interrupted-run test (each is one subprocess run)
    kill_points: ClassVar[int] = 3

    @pytest.fixture
    def el_harness(self, warehouse: Warehouse, tmp_path: Path) -> ELHarness:
        raise NotImplementedError("override the el_harness fixture in your suite subclass")

    # -- helpers --

    @staticmethod
    def run_once(
        harness: ELHarness,
        warehouse: Warehouse,
        run_id: str | None = None,
        *,
        full_refresh: bool = False,
    ) -> LoadResult:
        step = harness.make_step()
        request = RunRequest(run_id=run_id or new_run_id(), stack=STACK, full_refresh=full_refresh)
        result = step.run(request, warehouse)
        assert isinstance(result, LoadResult), f"run() returned {type(result).__name__}"
        return result

    # -- the checks --

    def test_produced_tables_exist(self, el_harness: ELHarness, warehouse: Warehouse) -> None:
        step = el_harness.make_step()
        assert step.produces(), "produces() is empty: the manifest must name every table"
        self.run_once(el_harness, warehouse)
        absent = c.missing(warehouse, step.produces())
        assert not absent, f"tables named by produces() do not exist after a run: {absent}"

    def test_one_run_equals_three_runs(self, el_harness: ELHarness, warehouse: Warehouse) -> None:
        step = el_harness.make_step()
        tables, meta = step.produces(), step.metadata_columns
        self.run_once(el_harness, warehouse)
        once = c.fp(warehouse, tables, meta)
        assert sum(t.rows for t in once.values()) > 0, (
            "the first run loaded no rows: the harness's source must hold data"
        )
        self.run_once(el_harness, warehouse)
        self.run_once(el_harness, warehouse)
        thrice = c.fp(warehouse, tables, meta)
        assert thrice == once, f"3 runs differ from 1 run:\n  {c.explain(once, thrice)}"

    def test_changed_row_is_updated_not_duplicated(
        self, el_harness: ELHarness, warehouse: Warehouse
    ) -> None:
        step = el_harness.make_step()
        tables, meta = step.produces(), step.metadata_columns
        self.run_once(el_harness, warehouse)
        before_counts = c.counts(warehouse, c.existing(warehouse, tables))
        before = c.fp(warehouse, tables, meta)
        change = el_harness.change_one_row()
        assert change.table in tables, f"{change.table} is not in produces()"
        self.run_once(el_harness, warehouse)
        after_counts = c.counts(warehouse, c.existing(warehouse, tables))
        assert after_counts[change.table.key] == before_counts[change.table.key], (
            f"{change.table} went from {before_counts[change.table.key]} to "
            f"{after_counts[change.table.key]} rows: the changed row was not merged"
        )
        values = c.select_by_key(warehouse, change.table, change.key, change.column)
        assert len(values) == 1, f"{len(values)} rows in {change.table} match {change.key}"
        assert c.same_value(values[0], change.new_value), (
            f"{change.table} {change.key}: {change.column} is {values[0]!r}, "
            f"expected {change.new_value!r}"
        )
        after = c.fp(warehouse, tables, meta)
        assert after[change.table.key] != before[change.table.key], (
            f"{change.table}'s fingerprint did not change after a source row changed"
        )

    def test_second_run_with_no_new_data_writes_nothing(
        self, el_harness: ELHarness, warehouse: Warehouse
    ) -> None:
        step = el_harness.make_step()
        if not step.incremental:
            pytest.skip(f"{type(step).__name__}.incremental is off (capability flag)")
        tables = step.produces()
        self.run_once(el_harness, warehouse)
        before = c.fp(warehouse, tables, step.metadata_columns)
        second = new_run_id()
        result = self.run_once(el_harness, warehouse, run_id=second)
        touched = c.rows_with_run_id(warehouse, c.existing(warehouse, tables), second)
        assert result.total_rows == 0, f"the second run reported rows: {result.rows}"
        assert not touched, f"the second run rewrote rows (stamped with its run id): {touched}"
        after = c.fp(warehouse, tables, step.metadata_columns)
        assert after == before, f"the second run changed the data:\n  {c.explain(before, after)}"

    def test_rows_reported_match_the_warehouse(
        self, el_harness: ELHarness, warehouse: Warehouse
    ) -> None:
        tables = el_harness.make_step().produces()
        result = self.run_once(el_harness, warehouse)
        declared = {t.key for t in tables}
        undeclared = sorted(set(result.rows) - declared)
        assert not undeclared, f"rows reported for tables not in produces(): {undeclared}"
        actual = c.counts(warehouse, c.existing(warehouse, tables))
        reported = {k: result.rows.get(k, 0) for k in actual}
        assert reported == actual, f"reported {result.rows}, the warehouse holds {actual}"

    def test_every_row_carries_the_run_id(
        self, el_harness: ELHarness, warehouse: Warehouse
    ) -> None:
        step = el_harness.make_step()
        if not step.stamps_run_id:
            pytest.skip(f"{type(step).__name__}.stamps_run_id is off (capability flag)")
        tables = step.produces()
        run_id = new_run_id()
        self.run_once(el_harness, warehouse, run_id=run_id)
        problems = c.run_id_problems(warehouse, c.existing(warehouse, tables), run_id)
        assert not problems, "rows not traceable to the run:\n  " + "\n  ".join(problems)

    def test_full_refresh_reloads_the_source_exactly(
        self, el_harness: ELHarness, warehouse: Warehouse
    ) -> None:
        step = el_harness.make_step()
        tables, meta = step.produces(), step.metadata_columns
        self.run_once(el_harness, warehouse)
        expected = c.fp(warehouse, tables, meta)
        # the raw tables drift from the source behind the step's back (a manual fix, a bug):
        # every row doubled; an incremental run would not notice
        loaded = c.existing(warehouse, tables)
        c.duplicate_rows(warehouse, loaded)
        result = self.run_once(el_harness, warehouse, full_refresh=True)
        after = c.fp(warehouse, tables, meta)
        assert after == expected, (
            f"after a full refresh the tables are not the source's rows:\n  "
            f"{c.explain(expected, after)}"
        )
        actual = c.counts(warehouse, loaded)
        reported = {k: result.rows.get(k, 0) for k in actual}
        assert reported == actual, f"full refresh reported {result.rows}, the tables hold {actual}"

    def test_interrupted_run_converges(
        self, el_harness: ELHarness, warehouse: Warehouse, warehouse_factory, tmp_path: Path
    ) -> None:
        factory = el_harness.step_factory()
        step = el_harness.make_step()
        c.check_interrupted_converges(
            command=lambda run_id: runner_command("el", run_id, factory=factory),
            env=el_harness.subprocess_env(),
            interrupted=warehouse,
            reference=warehouse_factory(),
            rerun=lambda wh: self.run_once(el_harness, wh) and None,
            tables=lambda: el_harness.make_step().produces(),
            logs=tmp_path / "kill-logs",
            points=self.kill_points,
            metadata=step.metadata_columns,
            after_kill=lambda run_id, wh: el_harness.make_step().cancel(run_id, wh),
        )
