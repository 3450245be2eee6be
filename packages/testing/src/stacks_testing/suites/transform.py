"""The transform conformance suite: what every :class:`~stacks_contract.ports.Transform` must do.

Override the ``transform_harness`` fixture in a subclass. The harness seeds the raw tables the
transform consumes; the checks read the tables it produces. How a package reports a failing data
test is the package's own test (it needs a project built to fail), not part of this suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from stacks_contract.models import NodeStatus, RunRequest, TransformResult, new_run_id
from stacks_contract.warehouse import Warehouse

from stacks_testing.runner import runner_command
from stacks_testing.suites import _common as c
from stacks_testing.suites.harness import TransformHarness

STACK = "conformance"


class BaseTransformSuite:
    """Checks the tables a transform builds. Not collected (``Base``)."""

    kill_points: ClassVar[int] = 3

    @pytest.fixture
    def transform_harness(self, warehouse: Warehouse, tmp_path: Path) -> TransformHarness:
        raise NotImplementedError("override the transform_harness fixture in your suite subclass")

    @staticmethod
    def run_once(
        harness: TransformHarness, warehouse: Warehouse, run_id: str | None = None
    ) -> TransformResult:
        request = RunRequest(run_id=run_id or new_run_id(), stack=STACK)
        result = harness.make_transform().run(request, warehouse)
        assert isinstance(result, TransformResult), f"run() returned {type(result).__name__}"
        return result

    def test_produced_tables_exist(
        self, transform_harness: TransformHarness, warehouse: Warehouse
    ) -> None:
        transform = transform_harness.make_transform()
        assert transform.produces(), "produces() is empty: the manifest must name every table"
        assert transform.consumes(), "consumes() is empty: the manifest must name every source"
        transform_harness.seed(warehouse)
        absent_sources = c.missing(warehouse, transform.consumes())
        assert not absent_sources, f"seed() did not create consumed tables: {absent_sources}"
        self.run_once(transform_harness, warehouse)
        absent = c.missing(warehouse, transform.produces())
        assert not absent, f"tables named by produces() do not exist after a run: {absent}"

    def test_every_produced_table_has_a_successful_model(
        self, transform_harness: TransformHarness, warehouse: Warehouse
    ) -> None:
        transform = transform_harness.make_transform()
        transform_harness.seed(warehouse)
        result = self.run_once(transform_harness, warehouse)
        ok = {m.table for m in result.models if m.status == NodeStatus.SUCCESS}
        lacking = [t for t in transform.produces() if t not in ok]
        assert not lacking, (
            f"no successful ModelResult for {lacking}; models: "
            f"{[(m.name, str(m.table), m.status.value) for m in result.models]}"
        )
        assert result.ok, f"the run is not ok: {result.models} {result.tests}"

    def test_one_run_equals_three_runs(
        self, transform_harness: TransformHarness, warehouse: Warehouse
    ) -> None:
        transform = transform_harness.make_transform()
        tables, meta = transform.produces(), transform.metadata_columns
        transform_harness.seed(warehouse)
        self.run_once(transform_harness, warehouse)
        once = c.fp(warehouse, tables, meta)
        assert sum(t.rows for t in once.values()) > 0, "the transform produced no rows at all"
        self.run_once(transform_harness, warehouse)
        self.run_once(transform_harness, warehouse)
        thrice = c.fp(warehouse, tables, meta)
        assert thrice == once, f"3 runs differ from 1 run:\n  {c.explain(once, thrice)}"

    def test_changed_upstream_row_is_merged_once(
        self, transform_harness: TransformHarness, warehouse: Warehouse
    ) -> None:
        transform = transform_harness.make_transform()
        tables, meta = transform.produces(), transform.metadata_columns
        transform_harness.seed(warehouse)
        raw_before = c.counts(warehouse, transform.consumes())
        self.run_once(transform_harness, warehouse)
        before = c.fp(warehouse, tables, meta)
        transform_harness.change_upstream(warehouse)
        raw_after = c.counts(warehouse, transform.consumes())
        assert raw_after == raw_before, f"change_upstream() changed row counts: {raw_after}"
        self.run_once(transform_harness, warehouse)
        after = c.fp(warehouse, tables, meta)
        rows_before = {k: v.rows for k, v in before.items()}
        rows_after = {k: v.rows for k, v in after.items()}
        assert rows_after == rows_before, (
            f"an updated upstream row changed produced row counts (duplicated or lost):\n  "
            f"{c.explain(before, after)}"
        )
        assert after != before, "an updated upstream row changed no produced table"

    def test_incremental_models_equal_a_full_rebuild_after_the_source_moves(
        self, transform_harness: TransformHarness, warehouse: Warehouse
    ) -> None:
        """The source moves between runs (an updated row; late child rows such as a refund, when
        the harness has them): every model maintained incrementally must then equal a rebuild of
        it from scratch over the same raw tables (history-keeping tables aside)."""
        transform = transform_harness.make_transform()
        kept = set(transform.history_keeping())
        tables = [t for t in transform.produces() if t not in kept]
        meta = transform.metadata_columns
        transform_harness.seed(warehouse)
        self.run_once(transform_harness, warehouse)
        transform_harness.change_upstream(warehouse)
        transform_harness.add_late_rows(warehouse)
        self.run_once(transform_harness, warehouse)  # the incremental path, over new data
        incremental = c.fp(warehouse, tables, meta)
        request = RunRequest(run_id=new_run_id(), stack=STACK, full_refresh=True)
        transform_harness.make_transform().run(request, warehouse)
        rebuilt = c.fp(warehouse, tables, meta)
        assert rebuilt == incremental, (
            "after the source moved, the incrementally maintained tables differ from a full "
            f"rebuild (incremental: {sorted(t.key for t in transform.incremental())}):\n  "
            f"{c.explain(incremental, rebuilt)}"
        )

    def test_every_row_carries_the_run_id(
        self, transform_harness: TransformHarness, warehouse: Warehouse
    ) -> None:
        transform = transform_harness.make_transform()
        if not transform.stamps_run_id:
            pytest.skip(f"{type(transform).__name__}.stamps_run_id is off (capability flag)")
        stamped = transform.stamped()
        assert stamped, "stamps_run_id is on but stamped() names no table: the claim is empty"
        assert set(stamped) <= set(transform.produces()), "stamped() names unproduced tables"
        transform_harness.seed(warehouse)
        run_id = new_run_id()
        self.run_once(transform_harness, warehouse, run_id=run_id)
        # checked per table: a table the transform says it stamps must carry the run id
        problems = c.run_id_problems(warehouse, stamped, run_id)
        assert not problems, "rows not traceable to the run:\n  " + "\n  ".join(problems)

    def test_interrupted_run_converges(
        self,
        transform_harness: TransformHarness,
        warehouse: Warehouse,
        warehouse_factory,
        tmp_path: Path,
    ) -> None:
        factory = transform_harness.transform_factory()
        reference = warehouse_factory()
        transform_harness.seed(warehouse)
        transform_harness.seed(reference)
        c.check_interrupted_converges(
            command=lambda run_id: runner_command("transform", run_id, factory=factory),
            env=transform_harness.subprocess_env(),
            interrupted=warehouse,
            reference=reference,
            rerun=lambda wh: self.run_once(transform_harness, wh) and None,
            tables=lambda: transform_harness.make_transform().produces(),
            logs=tmp_path / "kill-logs",
            points=self.kill_points,
            metadata=transform_harness.make_transform().metadata_columns,
        )
