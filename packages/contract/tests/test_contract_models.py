"""The frozen models that cross layer boundaries, and the table manifest's plan()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from stacks_contract.errors import ConfigError
from stacks_contract.manifest import plan
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    Freshness,
    LoadResult,
    ModelResult,
    NodeStatus,
    RunRecord,
    RunRequest,
    RunStatus,
    SourceChangeTrigger,
    StackSpec,
    TableRef,
    TestResult,
    TransformResult,
    TriggerKind,
    new_run_id,
)
from stacks_contract.ports import ELStep, Transform

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_table_ref_forms_and_equality() -> None:
    a = TableRef("raw", "orders")
    assert a == TableRef(schema="raw", name="orders") == TableRef.parse("raw.orders")
    assert str(a) == a.key == "raw.orders"
    assert len({a, TableRef.parse("raw.orders"), TableRef("raw", "orders__items")}) == 2
    with pytest.raises(ValueError, match=r"schema\.table"):
        TableRef.parse("orders")
    with pytest.raises(ValidationError):
        TableRef("raw", "drop table x; --")


@pytest.mark.parametrize(
    "model",
    [
        TableRef("raw", "t"),
        RunRequest(stack="s"),
        LoadResult(step="e", run_id="r", started_at=T0, finished_at=T0),
        TransformResult(run_id="r", started_at=T0, finished_at=T0),
        RunRecord(
            run_id="r",
            stack="s",
            orchestrator="o",
            trigger=TriggerKind.MANUAL,
            status=RunStatus.RUNNING,
            started_at=T0,
        ),
        CronTrigger(cron="0 * * * *"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_models_are_frozen(model) -> None:
    field = next(iter(type(model).model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(model, field, getattr(model, field))


def test_models_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        RunRequest(stack="s", colour="blue")  # type: ignore[call-arg]


def test_run_ids_are_unique_sortable_and_safe() -> None:
    ids = [new_run_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(i[:8].isdigit() for i in ids)
    a, b = RunRequest(stack="s"), RunRequest(stack="s")
    assert a.run_id != b.run_id
    with pytest.raises(ValidationError):
        RunRequest(stack="s", run_id="x'; drop table t")


def test_load_and_transform_results() -> None:
    load = LoadResult(
        step="shop",
        run_id="r",
        rows={"raw.orders": 3, "raw.orders__items": 7},
        started_at=T0,
        finished_at=T0,
    )
    assert load.total_rows == 10
    ok = TransformResult(
        run_id="r",
        models=(ModelResult(name="m", status=NodeStatus.SUCCESS),),
        tests=(
            TestResult(name="t1", status=NodeStatus.PASS),
            TestResult(name="t2", status=NodeStatus.WARN),
        ),
        started_at=T0,
        finished_at=T0,
    )
    assert ok.ok and ok.count(NodeStatus.PASS) == 1 and ok.count(NodeStatus.WARN) == 1
    failed_test = ok.model_copy(
        update={"tests": (TestResult(name="t", status=NodeStatus.FAIL, failures=4),)}
    )
    assert not failed_test.ok
    failed_model = ok.model_copy(
        update={"models": (ModelResult(name="m", status=NodeStatus.ERROR),)}
    )
    assert not failed_model.ok


def test_run_record_seconds() -> None:
    rec = RunRecord(
        run_id="r",
        stack="s",
        orchestrator="o",
        trigger=TriggerKind.SCHEDULE,
        status=RunStatus.SUCCEEDED,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=90),
    )
    assert rec.seconds == 90.0
    assert rec.model_copy(update={"finished_at": None}).seconds is None


def test_triggers_validate() -> None:
    with pytest.raises(ValidationError):
        CronTrigger(cron="every day")
    with pytest.raises(ValidationError):
        SourceChangeTrigger(step="s", poll_seconds=0)
    spec = StackSpec(
        name="demo",
        el_steps=(),
        triggers=(
            CronTrigger(cron="0 6 * * *"),
            FileArrivalTrigger(path="/in", pattern="*.csv"),
            SourceChangeTrigger(step="shop"),
        ),
        freshness=Freshness(max_lag=timedelta(hours=2)),
    )
    assert [t.kind for t in spec.triggers] == ["cron", "file_arrival", "source_change"]
    with pytest.raises(ValidationError):
        StackSpec(name="Bad Name", el_steps=())


# --- plan(): the manifest is the contract between layers ----------------------------------------


class _Step(ELStep):
    def __init__(self, name: str, *tables: str) -> None:
        self.name = name
        self._tables = tuple(TableRef.parse(t) for t in tables)

    def produces(self) -> tuple[TableRef, ...]:
        return self._tables

    def run(self, request, warehouse, report=None):  # pragma: no cover - never run here
        raise NotImplementedError


class _Transform(Transform):
    name = "t"

    def __init__(self, *consumes: str) -> None:
        self._consumes = tuple(TableRef.parse(t) for t in consumes)

    def consumes(self) -> tuple[TableRef, ...]:
        return self._consumes

    def produces(self) -> tuple[TableRef, ...]:
        return (TableRef("analytics", "out"),)

    def run(self, request, warehouse, report=None):  # pragma: no cover - never run here
        raise NotImplementedError


def test_plan_maps_each_source_to_its_step() -> None:
    spec = StackSpec(
        name="s",
        el_steps=(_Step("shop", "raw.orders", "raw.orders__items"), _Step("files", "raw.fx")),
        transform=_Transform("raw.orders__items", "raw.fx"),
    )
    p = plan(spec)
    assert p.sources == {
        TableRef("raw", "orders__items"): "shop",
        TableRef("raw", "fx"): "files",
    }
    assert p.produced_by[TableRef("raw", "orders")] == "shop"
    assert p.upstream_steps() == ("files", "shop")


def test_plan_without_transform() -> None:
    p = plan(StackSpec(name="s", el_steps=(_Step("a", "raw.x"),)))
    assert p.sources == {} and p.upstream_steps() == ()


def test_plan_rejects_a_table_nobody_produces() -> None:
    spec = StackSpec(
        name="s", el_steps=(_Step("shop", "raw.orders"),), transform=_Transform("raw.payments")
    )
    with pytest.raises(ConfigError, match=r"reads raw\.payments, which no EL step of stack 's'"):
        plan(spec)


def test_plan_rejects_two_producers() -> None:
    spec = StackSpec(name="s", el_steps=(_Step("a", "raw.x"), _Step("b", "raw.x")))
    with pytest.raises(ConfigError, match=r"raw\.x is produced by two EL steps \('a' and 'b'\)"):
        plan(spec)


def test_plan_rejects_duplicate_step_names() -> None:
    spec = StackSpec(name="s", el_steps=(_Step("a", "raw.x"), _Step("a", "raw.y")))
    with pytest.raises(ConfigError, match="duplicate EL step names"):
        plan(spec)


def test_a_window_is_half_open_aware_and_ordered() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from pydantic import ValidationError
    from stacks_contract.models import RunRequest, Window

    start = datetime(2026, 12, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    w = Window(start=start, end=start + timedelta(days=1))
    assert w.start == datetime(2026, 12, 1, tzinfo=UTC)  # normalised to UTC
    assert RunRequest(stack="s", window=w).window == w
    assert RunRequest(stack="s").window is None
    with pytest.raises(ValidationError, match="needs a timezone"):
        Window(start=datetime(2026, 12, 1), end=datetime(2026, 12, 2))
    with pytest.raises(ValidationError, match="before it starts"):
        Window(start=w.end, end=w.start)
