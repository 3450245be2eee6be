"""The orchestrator suite's window checks: a run given ``RunRequest.window`` (``stacks run
--window A..B``) re-delivers exactly the source rows whose cursor falls in the window and leaves
the EL cursors where they were; the tool's own backfill of that window (an Airflow backfill, a
Dagster partition, a Temporal schedule backfill) leaves the same warehouse. Mixed into
:class:`~stacks_testing.suites.BaseOrchestratorSuite`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from stacks_contract.models import RunRecord, RunRequest, RunStatus, StackSpec, Window
from stacks_contract.warehouse import Warehouse
from stacks_core.ledger import Ledger

from stacks_testing.suites import _common as c
from stacks_testing.suites.harness import OrchestratorHarness

#: half a day of the reference sources (see :func:`stacks_testing.reference.seed_sources`): every
#: customer (updated 01:00-08:00) and the orders updated 01:30-11:30 (ids 1-11 of 24)
WINDOW = Window(
    start=datetime(2024, 1, 1, 0, 0, tzinfo=UTC), end=datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
)
IN_WINDOW = {"raw.customers": 8, "raw.orders": 11}
EVERYTHING = {"raw.customers": 8, "raw.orders": 24}


def _all_tables(stack: StackSpec) -> list:
    assert stack.transform is not None
    return [*(t for s in stack.el_steps for t in s.produces()), *stack.transform.produces()]


class WindowChecks:
    """Needs the suite's fixtures (``orchestrator_harness``, ``suite_stack``, ...)."""

    def test_a_window_run_loads_the_window_and_keeps_the_cursor(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
    ) -> None:
        """``stacks run --window``: the window's rows only, recorded in the ledger; the next run
        without a window still loads everything (the window did not move the cursor)."""
        request = RunRequest(stack=suite_stack.name, window=WINDOW)
        record = orchestrator_harness.make_orchestrator().run(suite_stack, request, warehouse)
        assert record.status == RunStatus.SUCCEEDED, f"the window run failed: {record.error}"
        tables = [t for s in suite_stack.el_steps for t in s.produces()]
        assert c.counts(warehouse, tables) == IN_WINDOW, (
            f"a run of {WINDOW.start}..{WINDOW.end} left {c.counts(warehouse, tables)} raw rows, "
            f"the window holds {IN_WINDOW}"
        )
        ledger = Ledger(warehouse).get(record.run_id)
        assert ledger is not None and ledger.rows == IN_WINDOW, f"the ledger says {ledger}"
        plain = RunRequest(stack=suite_stack.name)
        after = orchestrator_harness.make_orchestrator().run(suite_stack, plain, warehouse)
        assert after.status == RunStatus.SUCCEEDED, f"the next run failed: {after.error}"
        assert after.rows == EVERYTHING, (
            f"the run after a window run loaded {after.rows}, not the whole source "
            f"{EVERYTHING}: the window moved the cursor"
        )

    def test_the_tools_backfill_of_a_window_equals_a_window_run(
        self,
        orchestrator_harness: OrchestratorHarness,
        suite_stack: StackSpec,
        warehouse: Warehouse,
        warehouse_factory: Callable[[], Warehouse],
    ) -> None:
        """The orchestrator's native backfill of the window (:meth:`OrchestratorHarness.backfill`)
        and ``run()`` with the window leave equal warehouses."""
        other = warehouse_factory()
        backfilled = orchestrator_harness.backfill(suite_stack, WINDOW, other)
        if backfilled is None:
            pytest.skip(
                f"{type(orchestrator_harness).__name__}: no native backfill to compare "
                f"({orchestrator_harness.no_backfill})"
            )
        assert isinstance(backfilled, RunRecord), f"backfill() returned {backfilled!r}"
        assert backfilled.status == RunStatus.SUCCEEDED, f"the backfill failed: {backfilled.error}"
        request = RunRequest(stack=suite_stack.name, window=WINDOW)
        record = orchestrator_harness.make_orchestrator().run(suite_stack, request, warehouse)
        assert record.status == RunStatus.SUCCEEDED, f"the window run failed: {record.error}"
        tables = _all_tables(suite_stack)
        got, want = c.fp(other, tables), c.fp(warehouse, tables)
        assert got == want, f"the backfill differs from the window run:\n  {c.explain(want, got)}"
        assert backfilled.rows == IN_WINDOW, f"the backfill's ledger row says {backfilled.rows}"
