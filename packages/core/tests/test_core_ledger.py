"""The run ledger on real Postgres and DuckDB: record, update in place, read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stacks_contract.models import RunRecord, RunStatus, TriggerKind
from stacks_core.ledger import LEDGER_SCHEMA, LEDGER_TABLE, Ledger
from stacks_core.sql import connect

T0 = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def _record(run_id: str, stack: str = "demo", **kw) -> RunRecord:
    base = dict(
        run_id=run_id,
        stack=stack,
        orchestrator="dagster",
        trigger=TriggerKind.SCHEDULE,
        status=RunStatus.RUNNING,
        started_at=T0,
    )
    return RunRecord(**(base | kw))


def test_record_update_and_read_back(warehouse) -> None:
    ledger = Ledger(warehouse)
    assert ledger.runs() == []
    start = _record("r1")
    ledger.record(start)
    assert ledger.runs() == [start]

    done = start.model_copy(
        update={
            "status": RunStatus.SUCCEEDED,
            "finished_at": T0 + timedelta(seconds=42, microseconds=500),
            "rows": {"raw.orders": 120, "raw.orders__items": 360},
            "models_built": 4,
            "tests_passed": 9,
            "tests_failed": 1,
        }
    )
    ledger.record(done)
    ledger.record(done)  # re-recording the same run is idempotent
    (back,) = ledger.runs()
    assert back == done
    assert back.started_at.tzinfo is not None and back.started_at == T0
    assert back.seconds == 42.0005
    assert ledger.get("r1") == done
    assert ledger.get("nope") is None


def test_failed_run_keeps_its_error(warehouse) -> None:
    ledger = Ledger(warehouse)
    msg = "Step 'shop' failed: relation \"raw.x\" does not exist; it's 'quoted' % 100"
    rec = _record("r-err", status=RunStatus.FAILED, finished_at=T0, error=msg)
    ledger.record(rec)
    assert ledger.get("r-err").error == msg  # type: ignore[union-attr]


def test_runs_are_ordered_and_filtered_by_stack(warehouse) -> None:
    ledger = Ledger(warehouse)
    ledger.record(_record("b", started_at=T0 + timedelta(minutes=2)))
    ledger.record(_record("a", started_at=T0 + timedelta(minutes=1), stack="other"))
    ledger.record(_record("c", started_at=T0))
    assert [r.run_id for r in ledger.runs()] == ["c", "a", "b"]
    assert [r.run_id for r in ledger.runs(stack="demo")] == ["c", "b"]


def test_ledger_lives_in_stacks_meta_and_survives_new_ledger_objects(warehouse) -> None:
    Ledger(warehouse).record(_record("r1"))
    with connect(warehouse) as conn:
        assert conn.table_exists(LEDGER_SCHEMA, LEDGER_TABLE)
        assert conn.count(LEDGER_SCHEMA, LEDGER_TABLE) == 1
    assert [r.run_id for r in Ledger(warehouse).runs()] == ["r1"]


def test_non_utc_timestamps_read_back_as_the_same_instant(warehouse) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2024, 5, 1, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    Ledger(warehouse).record(_record("tz", started_at=local))
    assert Ledger(warehouse).get("tz").started_at == local  # type: ignore[union-attr]


def test_concurrent_first_records_do_not_collide(warehouse) -> None:
    # parallel workers recording the first run into a fresh warehouse: on Postgres, concurrent
    # "create table if not exists" used to fail with a UniqueViolation in pg_type
    from concurrent.futures import ThreadPoolExecutor

    def record(i: int) -> None:
        Ledger(warehouse).record(_record(f"r{i}", started_at=T0 + timedelta(seconds=i)))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(record, range(8)))
    assert [r.run_id for r in Ledger(warehouse).runs()] == [f"r{i}" for i in range(8)]
