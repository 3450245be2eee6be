"""What a package hands the conformance suites: one harness per layer.

A harness owns the *source* (files, a fake API, seeded raw tables) and builds fresh, equivalent
step objects on demand, so the suites can run a step several times, change the source between
runs, and rebuild the same step in a fresh interpreter (for the SIGKILL tests).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from stacks_contract.models import RunRecord, RunRequest, StackSpec, TableRef, Trigger, Window
from stacks_contract.ports import ELStep, Orchestrator, Transform
from stacks_contract.warehouse import Warehouse


@dataclass(frozen=True)
class RowChange:
    """One source row that :meth:`ELHarness.change_one_row` changed.

    After the next run the warehouse row in ``table`` matching ``key`` (column -> value, the
    primary key) must hold ``new_value`` in ``column``, and ``table`` must not gain a row.
    """

    table: TableRef
    key: dict[str, Any]
    column: str
    new_value: Any


class ELHarness(ABC):
    """Provides an :class:`ELStep` under test and control over its source."""

    @abstractmethod
    def make_step(self) -> ELStep:
        """A fresh, equivalent step each call. Source state lives outside the step (in the
        harness), so two steps made from one harness read the same data."""

    @abstractmethod
    def change_one_row(self) -> RowChange:
        """Change one existing source row: a non-key value, with its cursor (``updated_at``)
        bumped so an incremental step sees it. Returns what the warehouse should show after
        the next run."""

    @abstractmethod
    def step_factory(self) -> str:
        """``"module:callable"`` (or ``"/path/to/file.py:callable"``): in a fresh interpreter,
        ``callable()`` returns a step equivalent to :meth:`make_step`. Used by the SIGKILL test,
        which runs ``python -m stacks_testing.runner el --factory ...``."""

    def subprocess_env(self) -> dict[str, str]:
        """Environment the factory needs in the subprocess (e.g. the source URL or folder)."""
        return {}


class TransformHarness(ABC):
    """Provides a :class:`Transform` under test and the raw tables it reads."""

    @abstractmethod
    def make_transform(self) -> Transform:
        """A fresh, equivalent transform each call."""

    @abstractmethod
    def seed(self, warehouse: Warehouse) -> None:
        """Create and fill every table ``transform.consumes()`` names, deterministically (two
        fresh warehouses seeded alike must fingerprint alike after a run)."""

    @abstractmethod
    def change_upstream(self, warehouse: Warehouse) -> None:
        """Update one existing raw row (a value that reaches a produced table, and its
        ``updated_at``), keeping every raw table's row count."""

    def add_late_rows(self, warehouse: Warehouse) -> bool:
        """Add raw rows that arrive late, the way a source moves on: a child row of an existing
        parent (a refund of an order, a late line) whose own timestamps may be older than what
        was loaded before, and whose parent does not change. Return False when the harness has
        none (the default): the suite then moves the source by :meth:`change_upstream` only."""
        return False

    @abstractmethod
    def transform_factory(self) -> str:
        """``"module:callable"``: in a fresh interpreter returns an equivalent transform."""

    def subprocess_env(self) -> dict[str, str]:
        return {}


class OrchestratorHarness(ABC):
    """Provides an :class:`Orchestrator`; the suite builds the (tool-free) stack it runs."""

    @abstractmethod
    def make_orchestrator(self) -> Orchestrator:
        """A fresh orchestrator each call."""

    @abstractmethod
    def orchestrator_factory(self) -> str:
        """``"module:callable"``: in a fresh interpreter returns an equivalent orchestrator."""

    def subprocess_env(self) -> dict[str, str]:
        return {}

    #: why :meth:`backfill` / :meth:`dbt_transform` return None for this orchestrator: the
    #: missing piece, named in the suite's skip (and where else the real thing is tested)
    no_backfill = "the orchestrator has no backfill of its own"
    no_dbt = "stacks-transform-dbt is not among this harness's test dependencies"

    def dbt_transform(self, project_dir: Path, schema: str) -> Transform | None:
        """A dbt transform of ``project_dir`` building into ``schema`` (e.g.
        ``DbtTransform(project_dir, name="dbt", schema=schema)``), for the check that a
        selection runs the tests dbt selects. None (the default): the check is skipped."""
        return None

    def backfill(self, stack: StackSpec, window: Window, warehouse: Warehouse) -> RunRecord | None:
        """Run ``stack`` over ``window`` through the tool's own backfill (a Dagster partition
        backfill, a Temporal schedule backfill, ...) into ``warehouse`` and return the ledger's
        record of that run. None (the default): the tool has no backfill this harness can drive,
        and the suite's comparison with a window run is skipped."""
        return None


class TriggerHarness(ABC):
    """Evaluates an orchestrator's native rendering of a stack's triggers."""

    @abstractmethod
    def fire(
        self, stack: StackSpec, trigger: Trigger, cursor: str | None, now: datetime
    ) -> tuple[list[RunRequest], str | None]:
        """Build the orchestrator's schedule/sensor for ``trigger`` of ``stack`` afresh and
        evaluate it once at ``now`` (a cron trigger: as its tick at ``now``), starting from
        ``cursor`` (what the orchestrator's cursor store held; None: nothing). Return the runs
        it requests, as contract :class:`RunRequest` objects, and the cursor it would store."""
