"""The stack end to end on a real Temporal dev server: shop API, dlt, dbt, Postgres and DuckDB."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr
from stacks_contract.fingerprint import diff, fingerprint
from stacks_contract.ledger import Ledger
from stacks_contract.models import RunRecord, RunRequest, RunStatus, TableRef
from stacks_contract.registry import load_stack
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_orch_temporal import DevServer, StackRef, TemporalOrchestrator
from stacks_temporal_dlt_dbt import NAME, TemporalDltDbtStack


def run(stack: TemporalDltDbtStack, warehouse: Warehouse) -> RunRecord:
    with stack.session(warehouse):
        return stack.orchestrator().run(
            stack.spec(warehouse), RunRequest(stack=stack.name), warehouse
        )


def ok(record: RunRecord) -> RunRecord:
    assert record.status == RunStatus.SUCCEEDED, record.error
    return record


def all_tables(stack: TemporalDltDbtStack, warehouse: Warehouse) -> list[TableRef]:
    spec = stack.spec(warehouse)
    return [t for s in spec.el_steps for t in s.produces()] + list(spec.transform.produces())


def test_the_entry_point_builds_the_stack_with_hints(duckdb_warehouse) -> None:
    stack = load_stack(NAME)
    assert isinstance(stack, TemporalDltDbtStack)
    hints = "\n".join(stack.hints(duckdb_warehouse))
    assert "select * from analytics.daily_revenue" in hints
    assert "python -m stacks_orch_temporal worker --stack temporal-dlt-dbt" in hints
    pg = PostgresWarehouse(database="shop", password=SecretStr("s3cret"))
    pg_hints = "\n".join(stack.hints(pg))
    assert "psql -h localhost -p 5432 -U postgres -d shop" in pg_hints
    assert "s3cret" not in pg_hints


def test_reruns_load_nothing_and_change_nothing_on_postgres(
    stack: TemporalDltDbtStack, postgres_warehouse
) -> None:
    first = ok(run(stack, postgres_warehouse))
    assert sum(first.rows.values()) == 956 and first.rows["raw.orders__items"] == 510
    assert first.models_built == 8 and first.tests_failed == 0 and first.tests_passed >= 20
    once = fingerprint(postgres_warehouse, all_tables(stack, postgres_warehouse))
    again = ok(run(stack, postgres_warehouse))
    assert sum(again.rows.values()) == 0, f"a rerun loaded rows: {again.rows}"
    assert fingerprint(postgres_warehouse, all_tables(stack, postgres_warehouse)) == once
    ledger = Ledger(postgres_warehouse).runs(NAME)
    assert [(r.run_id, r.status, r.orchestrator) for r in ledger] == [
        (first.run_id, RunStatus.SUCCEEDED, "temporal"),
        (again.run_id, RunStatus.SUCCEEDED, "temporal"),
    ]


def test_the_daily_cron_is_a_temporal_schedule_that_skips_overlaps(
    stack: TemporalDltDbtStack, temporal_server: DevServer, duckdb_warehouse
) -> None:
    from temporalio.client import Client, ScheduleOverlapPolicy

    bundle = TemporalOrchestrator().build(StackRef(stack=NAME))

    async def scenario():
        client = await Client.connect(temporal_server.address)
        ids = await bundle.apply_schedules(client, stack.spec(duckdb_warehouse))
        assert await bundle.apply_schedules(client, stack.spec(duckdb_warehouse)) == ids
        return ids, [await client.get_schedule_handle(i).describe() for i in ids]

    ids, (desc,) = asyncio.run(scenario())
    assert ids == [f"{NAME}-cron-0"]
    (daily,) = desc.schedule.spec.calendars  # the server stores "0 6 * * *" as a calendar
    assert [(r.start, r.end) for r in daily.hour] == [(6, 6)]
    assert [(r.start, r.end) for r in daily.minute] == [(0, 0)]
    assert desc.schedule.spec.time_zone_name == "UTC"
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.schedule.action.task_queue == f"stacks-{NAME}"
