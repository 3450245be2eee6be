"""The stack end to end on a real Temporal dev server: shop API, dlt, dbt, Postgres and DuckDB.

Durable execution is proven by SIGKILLing the worker in the middle of the dlt load, then in the
middle of dbt: a fresh worker finishes the same workflow, and the warehouse equals an
uninterrupted run's."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from stacks_contract.models import RunRecord, RunRequest, RunStatus, TableRef
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_core.fingerprint import Fingerprint, diff, fingerprint
from stacks_core.ledger import Ledger
from stacks_core.registry import load_stack
from stacks_orch_temporal import (
    DevServer,
    StackRef,
    StepOptions,
    TemporalOrchestrator,
    public_url,
)
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


def fp(stack: TemporalDltDbtStack, warehouse: Warehouse) -> Fingerprint:
    """The warehouse's fingerprint, dlt's load metadata ignored as the stack declares."""
    spec = stack.spec(warehouse)
    return fingerprint(warehouse, all_tables(stack, warehouse), metadata=spec.metadata_columns())


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
    assert sum(first.rows.values()) == 446 and first.rows["raw.orders"] == 200
    assert first.models_built == 8 and first.tests_failed == 0 and first.tests_passed >= 20
    once = fp(stack, postgres_warehouse)
    again = ok(run(stack, postgres_warehouse))
    assert sum(again.rows.values()) == 0, f"a rerun loaded rows: {again.rows}"
    assert fp(stack, postgres_warehouse) == once
    ledger = Ledger(postgres_warehouse).runs(NAME)
    assert [(r.run_id, r.status, r.orchestrator) for r in ledger] == [
        (first.run_id, RunStatus.SUCCEEDED, "temporal"),
        (again.run_id, RunStatus.SUCCEEDED, "temporal"),
    ]


def test_select_fct_orders_plus_runs_the_models_and_tests_dbt_selects(
    stack: TemporalDltDbtStack, duckdb_warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--select fct_orders+` on a built warehouse: the same models and the same dbt tests under
    Temporal as `dbt build --select` under the local orchestrator (with failures stored, every
    test a run executes leaves a table in the audit schema). Airflow and Dagster are compared
    on the shop the same way in orch-airflow's test_airflow_shop.py."""
    from stacks_core.local import LocalOrchestrator
    from stacks_core.sql import connect, quote_ident

    audit = "analytics_dbt_test__audit"
    ok(run(stack, duckdb_warehouse))
    monkeypatch.setenv("DBT_STORE_FAILURES", "true")
    spec = stack.spec(duckdb_warehouse)
    request = RunRequest(stack=stack.name, select=("fct_orders+",))
    ran = {}
    with stack.session(duckdb_warehouse):
        for orchestrator in (LocalOrchestrator(), stack.orchestrator()):
            with connect(duckdb_warehouse) as conn:
                conn.execute(f"drop schema if exists {quote_ident(audit)} cascade")
            record = ok(orchestrator.run(spec, request, duckdb_warehouse))
            with connect(duckdb_warehouse) as conn:
                tests = {name for schema, name in conn.tables(audit) if schema == audit}
            ran[type(orchestrator).__name__] = (record.steps, record.models, tests)
    local, temporal = ran["LocalOrchestrator"], ran["TemporalOrchestrator"]
    assert local[:2] == ((), ("daily_revenue", "dim_customers", "fct_orders")) and local[2]
    assert temporal == local, f"Temporal ran {temporal}; dbt build --select runs {local}"


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


# --- durable execution -------------------------------------------------------------------------

SECRET = "Kill-Test-Pa55word"
#: a dead worker's activity is retried after this many seconds without a heartbeat
HEARTBEAT = 5.0


def _worker(address: str, queue: str, warehouse_url: str, log: Path) -> subprocess.Popen[bytes]:
    """A worker in its own process (own session, so killing its group leaves us alone)."""
    cmd = [sys.executable, "-m", "stacks_orch_temporal", "worker", "--stack", NAME]
    cmd += ["--address", address, "--task-queue", queue, "--sticky-timeout", "1"]
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd,
            env={**os.environ, "STACKS_WAREHOUSE": warehouse_url},  # the password lives here only
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for(proc: subprocess.Popen[bytes], log: Path, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while text.encode() not in log.read_bytes():
        assert proc.poll() is None, f"the worker exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout}s:\n{log.read_text()[-3000:]}"
        time.sleep(0.01)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _payloads(node: object) -> str:
    """Every payload in a history (JSON-encoded, base64 in the history's JSON), decoded."""
    if isinstance(node, dict):
        if "data" in node and "metadata" in node:
            return base64.b64decode(node["data"]).decode(errors="replace") + "\n"
        return "".join(_payloads(v) for v in node.values())
    if isinstance(node, list):
        return "".join(_payloads(v) for v in node)
    return ""


def _attempts(history: dict) -> dict[str, int]:
    """activity id -> the attempt that completed it."""
    scheduled = {}
    attempts = {}
    for event in history["events"]:
        eid = int(event["eventId"])
        if "activityTaskScheduledEventAttributes" in event:
            scheduled[eid] = event["activityTaskScheduledEventAttributes"]["activityId"]
        started = event.get("activityTaskStartedEventAttributes")
        if started:
            attempts[scheduled[int(started["scheduledEventId"])]] = int(started["attempt"])
    return attempts


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(
    stack: TemporalDltDbtStack,
    temporal_server: DevServer,
    postgres_server,
    postgres_warehouse,
    tmp_path: Path,
) -> None:
    from temporalio.client import Client

    reference = postgres_server.create_database()
    try:
        ok(run(stack, reference))
        target = fp(stack, reference)
    finally:
        postgres_server.drop_database(reference.database)

    warehouse = postgres_warehouse.model_copy(update={"password": SecretStr(SECRET)})
    ref = StackRef(stack=NAME, warehouse=public_url(warehouse))
    options = StepOptions(heartbeat=HEARTBEAT, initial_interval=0.2, max_attempts=5)
    bundle = dataclasses.replace(
        TemporalOrchestrator(options=options).build(ref),
        task_queue=f"stacks-{NAME}-{uuid.uuid4().hex[:8]}",
    )
    request = RunRequest(stack=NAME)
    url = f"{warehouse.url()}?schema={warehouse.schema_name}"
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]

    async def scenario() -> tuple[RunRecord, dict, RunRecord]:
        client = await Client.connect(temporal_server.address)
        handle = await bundle.start(client, request)
        workers = []
        try:
            workers.append(_worker(temporal_server.address, bundle.task_queue, url, logs[0]))
            _wait_for(workers[0], logs[0], "[shop] loading into")
            time.sleep(0.3)
            _kill(workers[0])  # mid-load
            workers.append(_worker(temporal_server.address, bundle.task_queue, url, logs[1]))
            _wait_for(workers[1], logs[1], "[dbt] model ")
            _kill(workers[1])  # mid-build
            workers.append(_worker(temporal_server.address, bundle.task_queue, url, logs[2]))
            record = RunRecord.model_validate(await handle.result())
            again = await bundle.execute(client, request)  # the same run id attaches
        finally:
            for w in workers:
                _kill(w)
        history = await handle.fetch_history()
        return record, json.loads(history.to_json()), again

    try:
        record, history, again = asyncio.run(scenario())
    finally:
        for log in logs:  # shown by pytest when the test fails
            print(f"--- {log.name}", log.read_text()[-4000:] if log.exists() else "(none)")
    ok(record)
    assert again == record, "starting the finished run again ran it again"
    attempts = _attempts(history)
    assert attempts["el:shop"] == 2, f"the kill did not land in the load: {attempts}"
    assert attempts["transform"] == 2, f"the kill did not land in dbt: {attempts}"
    assert record.models_built == 8 and record.tests_failed == 0

    got = fp(stack, warehouse)
    assert got == target, diff(target, got)
    runs = Ledger(warehouse).runs(NAME)
    assert [(r.run_id, r.status) for r in runs] == [(request.run_id, RunStatus.SUCCEEDED)]

    text = _payloads(history)
    assert SECRET not in text and SECRET not in json.dumps(history), "password in the history"
    assert public_url(warehouse) in text, "the history should carry the secret-free reference"
