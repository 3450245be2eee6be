"""AirbyteStep against the local engine over real HTTP, on DuckDB and Postgres: rows counted from
the warehouse, 409 attach, every failure as the sentence the user sees, secrets never shown."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from stacks_contract.errors import ConfigError, StepFailed, TransientError
from stacks_contract.models import RunRequest
from stacks_core.sql import connect
from stacks_el_airbyte import AirbyteStep
from stacks_el_airbyte.local.server import LocalEngine

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def setup(engine_factory: Any, make_connection: Any, warehouse: Any) -> tuple[LocalEngine, Any]:
    connection = make_connection(warehouse, streams=("customers", "orders"))
    return engine_factory([connection]), connection


def step_for(engine: LocalEngine, connection: Any, **env: str) -> AirbyteStep:
    return AirbyteStep(
        "airbyte_shop",
        connection.connection_id,
        ["customers", "orders"],
        poll_interval_s=0.05,
        env={**engine.env(), **env},
    )


def request(**kw: Any) -> RunRequest:
    return RunRequest(stack="test", **kw)


def rows_in(warehouse: Any, table: str) -> int:
    with connect(warehouse) as conn:
        return conn.count("raw", table)


def test_run_counts_the_rows_of_the_job_and_a_second_run_writes_none(
    setup: Any, source: dict[str, Any], warehouse: Any
) -> None:
    engine, connection = setup
    source["orders"] = [{"id": i, "name": f"order {i}"} for i in range(1, 4)]
    step = step_for(engine, connection)
    lines: list[str] = []
    first = step.run(request(), warehouse, lambda _s, line: lines.append(line))
    assert first.rows == {"raw.customers": 5, "raw.orders": 3}
    assert first.load_id == str(step.last_job.job_id)
    assert rows_in(warehouse, "customers") == 5
    assert any(line.endswith("succeeded, 8 records so far") for line in lines)
    assert lines[-1] == f"8 rows into 2 tables (job {first.load_id})"

    assert step.run(request(), warehouse).rows == {"raw.customers": 0, "raw.orders": 0}
    source["customers"][0]["name"] = "changed"
    assert step.run(request(), warehouse).rows == {"raw.customers": 1, "raw.orders": 0}
    assert rows_in(warehouse, "customers") == 5  # deduplicated by the engine: updated, not added
    full = step.run(request(full_refresh=True), warehouse)
    assert engine.jobs.get(int(full.load_id)).job_type == "refresh"  # type: ignore[union-attr, arg-type]
    assert full.rows == {"raw.customers": 5, "raw.orders": 3}


def test_a_running_sync_is_attached_to_not_started_twice(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    step = step_for(engine, connection)
    engine.inject(connection.connection_id, delay_s=0.5)
    job = engine.jobs.create(connection.connection_id, "sync")
    lines: list[str] = []
    result = step.run(request(), warehouse, lambda _s, line: lines.append(line))
    assert result.load_id == str(job.job_id) and len(engine.jobs.all()) == 1
    assert lines[0] == (
        f"a sync of {connection.connection_id} is already running: attached to job "
        f"{job.job_id} instead of starting a second"
    )
    assert result.rows["raw.customers"] == 5


def test_a_failed_attempt_then_success_is_a_success(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    engine.inject(connection.connection_id, fail_attempts=2)
    lines: list[str] = []
    result = step_for(engine, connection).run(request(), warehouse, lambda _s, x: lines.append(x))
    assert result.rows["raw.customers"] == 5
    assert [len(j.attempts) for j in engine.jobs.all()] == [3]


def test_a_failed_job_names_the_job_and_the_attempts_reason(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    engine.inject(
        connection.connection_id, fail_job=True, message="HTTP 500 from https://shop.example/orders"
    )
    with pytest.raises(StepFailed) as caught:
        step_for(engine, connection).run(request(), warehouse)
    (job,) = engine.jobs.all()
    assert str(caught.value) == (
        f"Step 'airbyte_shop' failed: Airbyte job {job.job_id} of connection "
        f"{connection.connection_id} failed: HTTP 500 from https://shop.example/orders (attempt 3)"
    )


def test_a_job_cancelled_by_the_server(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    engine.inject(connection.connection_id, cancel=True)
    with pytest.raises(StepFailed) as caught:
        step_for(engine, connection).run(request(), warehouse)
    (job,) = engine.jobs.all()
    assert str(caught.value) == (
        f"Step 'airbyte_shop' failed: Airbyte job {job.job_id} of connection "
        f"{connection.connection_id} was cancelled before it finished; the next run starts a "
        "new sync."
    )


def test_interrupting_the_run_cancels_the_job(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    engine.inject(connection.connection_id, delay_s=30)

    def report(_step: str, line: str) -> None:
        if "running" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        step_for(engine, connection).run(request(), warehouse, report)
    (job,) = engine.jobs.all()
    deadline = time.monotonic() + 10
    while job.status != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.status == "cancelled"


def test_cancel_stops_the_running_job_and_waits(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    engine.inject(connection.connection_id, delay_s=30)
    job = engine.jobs.create(connection.connection_id, "sync")
    step_for(engine, connection).cancel("any-run", warehouse)
    assert job.status == "cancelled"


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_credential_and_address_errors_are_one_masked_sentence(setup: Any, warehouse: Any) -> None:
    engine, connection = setup

    def error(**env: str) -> str:
        with pytest.raises((StepFailed, ConfigError)) as caught:
            step_for(engine, connection, **env).run(request(), warehouse)
        return str(caught.value)

    secret = "s3cr3t-value-never-shown"
    text = error(AIRBYTE_CLIENT_SECRET=secret)
    assert text == (
        f"Step 'airbyte_shop' failed: Airbyte at {engine.url}/applications/token rejected the "
        "credentials (401): check AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET."
    )
    text = error(AIRBYTE_CLIENT_ID="", AIRBYTE_CLIENT_SECRET="", AIRBYTE_TOKEN=secret)
    assert secret not in text and "(401)" in text and "AIRBYTE_TOKEN" in text

    assert error(AIRBYTE_SERVER_URL=f"{engine.origin}/api/v1") == (
        f"AIRBYTE_SERVER_URL {engine.origin}/api/v1 is Airbyte's internal configuration API "
        f"(/api/v1); use the public API: {engine.origin}/api/public/v1 on a self-managed "
        "server, https://api.airbyte.com/v1 on Airbyte Cloud."
    )
    assert error(AIRBYTE_SERVER_URL=engine.origin) == (
        f"Step 'airbyte_shop' failed: No Airbyte public API at AIRBYTE_SERVER_URL "
        f"{engine.origin}: on a self-managed server it is {engine.origin}/api/public/v1, on "
        "Airbyte Cloud https://api.airbyte.com/v1."
    )
    with pytest.raises(StepFailed) as caught:
        AirbyteStep("airbyte_shop", "no-such-connection", ["customers"], env=engine.env()).run(
            request(), warehouse
        )
    assert str(caught.value) == (
        f"Step 'airbyte_shop' failed: Airbyte at {engine.url} has no connection "
        "'no-such-connection' visible to these credentials: list them with GET "
        f"{engine.url}/connections (AirbyteStep.connections() reads every page)."
    )

    other_workspace = engine.add_application("99999999-9999-9999-9999-999999999999")
    text = error(AIRBYTE_CLIENT_ID=other_workspace[0], AIRBYTE_CLIENT_SECRET=other_workspace[1])
    assert text == (
        f"Step 'airbyte_shop' failed: Airbyte at {engine.url} denied access to connection "
        f"{connection.connection_id} (403 forbidden): the credentials' workspace must own the "
        "connection (check AIRBYTE_CLIENT_ID's application)."
    )
    assert engine.client_secret not in text and other_workspace[1] not in text


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_a_server_not_running_is_transient_and_says_where(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/public/v1"
    with pytest.raises(TransientError) as caught:
        step_for(engine, connection, AIRBYTE_SERVER_URL=url).run(request(), warehouse)
    assert str(caught.value) == (
        f"Step 'airbyte_shop' failed: cannot reach Airbyte at {url} (connection refused): is "
        "the server running? AIRBYTE_SERVER_URL must point at its public API."
    )


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_connections_past_20_and_lookup_by_name(
    engine_factory: Any, make_connection: Any, warehouse: Any
) -> None:
    conns = [make_connection(warehouse, name=f"conn {i:02d}") for i in range(30)]
    engine = engine_factory(conns)
    step = AirbyteStep("by_name", "conn 27", ["customers"], poll_interval_s=0.05, env=engine.env())
    assert [c.name for c in step.connections()] == [f"conn {i:02d}" for i in range(30)]
    result = step.run(request(), warehouse)
    (job,) = engine.jobs.all()
    assert job.connection_id == conns[27].connection_id and result.rows == {"raw.customers": 5}


def test_produces_names_the_tables_without_touching_anything() -> None:
    # no AIRBYTE_SERVER_URL and no server: produces() must not need either
    step = AirbyteStep("a", "id", {"customers": "shop_customers"}, env={})
    assert [str(t) for t in step.produces()] == ["raw.shop_customers"]


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_5xx_is_transient_and_a_poll_rides_over_one(setup: Any, warehouse: Any) -> None:
    engine, connection = setup
    handle = engine.api.handle
    failures = {"POST": 1, "GET": 1}

    def flaky(req: Any) -> Any:  # the engine answers 503 once to a create, once to a poll
        kind = "POST" if req.method == "POST" and req.path.endswith("/jobs") else None
        kind = kind or ("GET" if req.method == "GET" and "/jobs/" in req.path else None)
        if kind and failures[kind]:
            failures[kind] -= 1
            return 503, {
                "status": 503,
                "type": "about:blank",
                "title": "service-unavailable",
                "detail": "The server is currently unable to handle the request.",
            }
        return handle(req)

    engine.api.handle = flaky  # type: ignore[method-assign]
    step = step_for(engine, connection)
    with pytest.raises(TransientError) as caught:
        step.run(request(), warehouse)
    assert str(caught.value) == (
        f"Step 'airbyte_shop' failed: Airbyte at {engine.url} answered 503: The server is "
        "currently unable to handle the request."
    )
    assert step.run(request(), warehouse).rows["raw.customers"] == 5  # the poll's 503 retried
    assert failures == {"POST": 0, "GET": 0}


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_a_restarted_server_with_the_same_credentials_signs_in_again(
    engine_factory: Any, make_connection: Any, warehouse: Any
) -> None:
    # the SDK caches tokens per (client id, secret), whatever the server: the second engine
    # rejects the first one's token and the step signs in again instead of failing with 401
    connection = make_connection(warehouse)
    credentials = ("stacks-client", "stacks-secret-for-the-restart-test")
    for _ in range(2):
        engine = engine_factory([connection], credentials=credentials)
        step = step_for(engine, connection)
        step.tables = {"customers": "customers"}
        assert step.run(request(), warehouse).load_id == str(engine.jobs.all()[0].job_id)
        engine.stop()


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_the_connection_can_depend_on_the_warehouse(
    engine_factory: Any, make_connection: Any, warehouse: Any, warehouse_factory: Any
) -> None:
    # Airbyte's destination belongs to the connection: one connection per warehouse
    other = warehouse_factory()
    conns = {str(w.path): make_connection(w) for w in (warehouse, other)}
    engine = engine_factory([conns[str(warehouse.path)]])
    engine.add_connection(conns[str(other.path)])  # a connection added while serving
    step = AirbyteStep(
        "per_warehouse",
        lambda wh: conns[str(wh.path)].connection_id,
        ["customers"],
        poll_interval_s=0.05,
        env=engine.env(),
    )
    for wh in (warehouse, other):
        assert step.run(request(), wh).rows == {"raw.customers": 5}
        assert rows_in(wh, "customers") == 5
