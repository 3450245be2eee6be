"""The trigger suite: an orchestrator's native rendering of a stack's triggers fires exactly the
runs :mod:`stacks_contract.triggers` says it should, once, and a restart does not fire again.

Override ``trigger_harness``; :meth:`TriggerHarness.fire` evaluates the orchestrator's own
schedule or sensor for one trigger once, from a cursor its store would hold. Every call builds
a fresh rendering, so handing back an older cursor is a restarted scheduler.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    RunRequest,
    SourceChangeTrigger,
    StackSpec,
    TriggerKind,
)
from stacks_contract.selection import resolve
from stacks_contract.triggers import trigger_request
from stacks_contract.warehouse import Warehouse

from stacks_testing import reference as ref
from stacks_testing.suites.harness import TriggerHarness

STACK = "conformance"
TICK = datetime(2030, 1, 1, 6, 0, tzinfo=UTC)


def _touch(path: Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id\n1\n")
    os.utime(path, (mtime, mtime))


class BaseTriggerSuite:
    """Not collected (``Base``)."""

    @pytest.fixture
    def trigger_harness(self, warehouse: Warehouse, tmp_path: Path) -> TriggerHarness:
        raise NotImplementedError("override the trigger_harness fixture in your suite subclass")

    @pytest.fixture
    def landing(self, tmp_path: Path) -> Path:
        return tmp_path / "landing"

    @pytest.fixture
    def trigger_stack(self, tmp_path: Path, landing: Path) -> StackSpec:
        spec = ref.reference_stack(tmp_path / "trigger-source", name=STACK)
        triggers = (
            CronTrigger(cron="0 6 * * *"),
            FileArrivalTrigger(path=str(landing), pattern="*.csv", steps=("orders",)),
            SourceChangeTrigger(step="customers", poll_seconds=30),
        )
        return spec.model_copy(update={"triggers": triggers})

    @staticmethod
    def _fire(
        harness: TriggerHarness,
        stack: StackSpec,
        index: int,
        cursor: str | None,
        now: datetime = TICK,
    ) -> tuple[list[RunRequest], str | None]:
        requests, new_cursor = harness.fire(stack, stack.triggers[index], cursor, now)
        assert all(isinstance(r, RunRequest) for r in requests), requests
        return list(requests), new_cursor

    def test_cron_fires_each_tick_once(
        self, trigger_harness: TriggerHarness, trigger_stack: StackSpec
    ) -> None:
        first, cursor = self._fire(trigger_harness, trigger_stack, 0, None)
        assert len(first) == 1, f"a cron tick requested {len(first)} runs"
        want = trigger_request(trigger_stack, trigger_stack.triggers[0], _iso(TICK))
        assert (first[0].run_id, first[0].trigger, first[0].select) == (
            want.run_id,
            TriggerKind.SCHEDULE,
            (),
        )
        again, _ = self._fire(trigger_harness, trigger_stack, 0, None)  # a restart, stale store
        assert [r.run_id for r in again] in ([], [want.run_id]), (
            f"a restarted scheduler fired tick {TICK} as another run: {again}"
        )
        same, _ = self._fire(trigger_harness, trigger_stack, 0, cursor)
        assert [r.run_id for r in same] in ([], [want.run_id])
        nxt, _ = self._fire(trigger_harness, trigger_stack, 0, cursor, TICK + timedelta(days=1))
        assert len(nxt) == 1 and nxt[0].run_id != want.run_id, "the next tick did not fire"

    def test_file_arrival_fires_once_per_new_files(
        self, trigger_harness: TriggerHarness, trigger_stack: StackSpec, landing: Path
    ) -> None:
        none, cursor = self._fire(trigger_harness, trigger_stack, 1, None)
        assert none == [], f"no file has landed, yet runs were requested: {none}"
        t0 = time.time() - 100
        _touch(landing / "a.csv", t0)
        _touch(landing / "b.csv", t0)  # same second: both count, once
        _touch(landing / "ignored.txt", t0)
        fired, cursor = self._fire(trigger_harness, trigger_stack, 1, cursor)
        assert len(fired) == 1, f"two new files requested {len(fired)} runs"
        request = fired[0]
        assert request.trigger == TriggerKind.FILE_ARRIVAL
        selection = resolve(trigger_stack, request.select)
        assert selection.steps == ("orders",), f"new files ran steps {selection.steps}"
        assert set(selection.models) == {"customer_orders", "top_customers"}
        quiet, cursor2 = self._fire(trigger_harness, trigger_stack, 1, cursor)
        assert quiet == [], f"the same files fired again: {quiet}"
        _touch(landing / "c.csv", t0)  # same mtime as the others, new name
        third, _ = self._fire(trigger_harness, trigger_stack, 1, cursor2)
        assert len(third) == 1 and third[0].run_id != request.run_id
        replay, _ = self._fire(trigger_harness, trigger_stack, 1, cursor2)  # restart
        assert [r.run_id for r in replay] == [third[0].run_id], (
            "a restart from the same cursor named another run for the same files"
        )

    def test_source_change_fires_once_per_change(
        self, trigger_harness: TriggerHarness, trigger_stack: StackSpec
    ) -> None:
        first, cursor = self._fire(trigger_harness, trigger_stack, 2, None)
        assert len(first) == 1, "the first probe (unknown state) must count as a change"
        selection = resolve(trigger_stack, first[0].select)
        assert selection.steps == ("customers",)
        assert first[0].trigger == TriggerKind.SOURCE_CHANGE
        quiet, cursor = self._fire(trigger_harness, trigger_stack, 2, cursor)
        assert quiet == [], f"an unchanged source fired: {quiet}"
        step = trigger_stack.step("customers")
        ref.ReferenceSource(step.source).append({"id": 500, "name": "new", "country": "DE"})
        changed, cursor3 = self._fire(trigger_harness, trigger_stack, 2, cursor)
        assert len(changed) == 1 and changed[0].run_id != first[0].run_id
        again, _ = self._fire(trigger_harness, trigger_stack, 2, cursor3)
        assert again == [], "the same change fired twice"


def _iso(tick: datetime) -> str:
    from stacks_contract.triggers import cron_token

    return cron_token(tick)
