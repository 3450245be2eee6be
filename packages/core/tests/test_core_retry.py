"""Transient or not, on exceptions real connections raise; the ledger's writes wait out a real
Postgres restart. The ``server`` fixture is a throwaway cluster of these tests' own (conftest)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from stacks_contract.errors import StepFailed, TransientError, WarehouseUnreachable
from stacks_contract.models import RunRecord, RunRequest, RunStatus, utcnow
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse
from stacks_core.ledger import Ledger
from stacks_core.retry import is_transient, retry_transient
from stacks_core.sql import connect
from stacks_testing.postgres import PostgresServer


def _raised(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_transient() -> None:
    wh = PostgresWarehouse(host="127.0.0.1", port=_closed_port(), database="x", user="u")
    exc = _raised(lambda: connect(wh))
    assert isinstance(exc, WarehouseUnreachable) and "refused" in str(exc).lower()
    assert is_transient(exc)
    raw = _raised(lambda: psycopg.connect(wh.url(), connect_timeout=2))
    assert isinstance(raw, psycopg.OperationalError) and is_transient(raw)


def test_permanent_errors_are_not_transient(server: PostgresServer) -> None:
    wh = server.create_database()
    missing_db = wh.model_copy(update={"database": "no_such_database"})
    exc = _raised(lambda: connect(missing_db))
    assert isinstance(exc, WarehouseUnreachable) and "does not exist" in str(exc)
    assert not is_transient(exc)
    with connect(wh) as conn:
        syntax = _raised(lambda: conn.execute("selec 1"))
        missing = _raised(lambda: conn.execute("select * from no_such_table"))
    assert isinstance(syntax, psycopg.errors.SyntaxError) and not is_transient(syntax)
    assert isinstance(missing, psycopg.errors.UndefinedTable) and not is_transient(missing)
    # a step's sentence built from them stays permanent
    assert not is_transient(StepFailed("load", str(missing)))


def test_a_restart_under_an_open_connection_is_transient(server: PostgresServer) -> None:
    wh = server.create_database()
    with connect(wh) as conn:
        conn.execute("select 1")
        server.restart()
        lost = _raised(lambda: conn.execute("select 1"))
        after = _raised(lambda: conn.execute("select 1"))
    assert "terminating connection due to administrator command" in str(lost)
    assert is_transient(lost) and is_transient(after)
    # a step that keeps the database's sentence but drops the chain, or keeps only the chain
    assert is_transient(StepFailed("load", str(lost)))
    wrapped = RuntimeError("the load failed")
    wrapped.__cause__ = lost
    assert is_transient(wrapped)
    assert is_transient(TransientError("load", "whatever the tool said"))


def test_a_duckdb_file_held_by_another_process_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,sys; c=duckdb.connect({str(path)!r}); "
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        exc = _raised(lambda: connect(DuckDBWarehouse(path=path)))
    finally:
        holder.communicate("")
    assert "lock" in str(exc).lower() and is_transient(exc)
    with connect(DuckDBWarehouse(path=path)) as conn:
        missing = _raised(lambda: conn.execute("select * from no_such_table"))
    assert not is_transient(missing)


def test_retry_transient_retries_only_transient_failures(server: PostgresServer) -> None:
    wh = server.create_database()
    with connect(wh) as conn:
        conn.execute("select 1")
        server.restart()
        lost = _raised(lambda: conn.execute("select 1"))
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise lost
        return "done"

    assert retry_transient(flaky, sleep=waits.append) == "done"
    assert (len(calls), waits) == (3, [0.5, 1.0])

    calls.clear()
    waits.clear()

    def broken() -> None:
        calls.append(1)
        with connect(wh) as c:
            c.execute("selec 1")

    with pytest.raises(psycopg.errors.SyntaxError):
        retry_transient(broken, sleep=waits.append)
    assert (len(calls), waits) == (1, [])


def test_ledger_write_waits_out_a_restart(server: PostgresServer) -> None:
    """The server is down when the run's final ledger write starts: it is retried until the
    server is back, and the row ends 'succeeded' (it was left 'running' before)."""
    wh = server.create_database()
    ledger = Ledger(wh)
    started = ledger.start("demo", "local", RunRequest(stack="demo"))
    done: RunRecord = started.model_copy(
        update={"status": RunStatus.SUCCEEDED, "finished_at": utcnow()}
    )
    server.stop()
    back = threading.Timer(1.0, server.start)
    back.start()
    try:
        ledger.record(done)
    finally:
        back.join()
    row = ledger.get(started.run_id)
    assert row is not None and row.status == RunStatus.SUCCEEDED
