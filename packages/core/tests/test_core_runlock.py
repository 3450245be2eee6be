"""The Postgres run lock under the faults that used to drop it silently: ``idle_session_timeout``,
``pg_terminate_backend`` of the lock's session, a server restart. Each time a run is going and a
second run of the stack is started: it must be refused while the first is alive, the first must
finish, and the ledger must hold exactly the truth. A run whose lease is taken over fails at its
next step; a dead holder's run is marked abandoned only once its lease is gone."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from stacks_contract.errors import RunLocked
from stacks_contract.models import (
    LoadResult,
    RunRecord,
    RunRequest,
    RunStatus,
    StackSpec,
    TableRef,
    utcnow,
)
from stacks_contract.ports import ELStep, Orchestrator, Reporter, Stack, silent
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_core.ledger import Ledger
from stacks_core.local import LocalOrchestrator
from stacks_core.runner import run_stack
from stacks_core.sql import connect
from stacks_testing.postgres import PostgresServer

STACK = "slowpoke"
#: every write of every run
WRITES = "select run_id from raw.first_writes union all select run_id from raw.second_writes"


class SlowStep(ELStep):
    """Writes one row per tick (which run, when) for ``ticks`` ticks, reporting each: a run long
    enough to hurt, and a record of who wrote when."""

    def __init__(self, name: str, ticks: int, tick_s: float = 0.15) -> None:
        self.name = name
        self.ticks = ticks
        self.tick_s = tick_s
        self.table = TableRef(schema="raw", name=f"{name}_writes")

    def produces(self) -> tuple[TableRef, ...]:
        return (self.table,)

    def run(self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent):
        started = utcnow()
        with connect(warehouse) as conn:
            conn.execute("create schema if not exists raw")
            conn.execute(f"create table if not exists raw.{self.table.name} (run_id varchar)")
        for i in range(self.ticks):
            report(self.name, f"tick {i}")
            with connect(warehouse) as conn:
                conn.execute(f"insert into raw.{self.table.name} values (?)", [request.run_id])
            time.sleep(self.tick_s)
        return LoadResult(
            step=self.name,
            run_id=request.run_id,
            rows={self.table.key: self.ticks},
            started_at=started,
            finished_at=utcnow(),
        )


class SlowStack(Stack):
    name: ClassVar[str] = STACK  # type: ignore[misc]

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks

    def orchestrator(self) -> Orchestrator:
        return LocalOrchestrator(retry_delay=0.5)

    def spec(self, warehouse: Warehouse) -> StackSpec:
        # two steps: a boundary between them where a run that lost its lock must stop
        steps = (SlowStep("first", self.ticks), SlowStep("second", self.ticks))
        return StackSpec(name=STACK, el_steps=steps)


@pytest.fixture(autouse=True)
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKS_LOCK_LEASE_S", "3")  # a heartbeat every 0.5 s


class Running:
    """A run of :class:`SlowStack` in a thread."""

    def __init__(self, warehouse: Warehouse, ticks: int = 12) -> None:
        self.request = RunRequest(stack=STACK)
        self.record: RunRecord | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._go, args=(warehouse, ticks), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not _ticks(warehouse, self.request.run_id):
            assert self.error is None and time.monotonic() < deadline, (
                f"the run never started: {self.error}"
            )
            time.sleep(0.1)

    def _go(self, warehouse: Warehouse, ticks: int) -> None:
        try:
            self.record = run_stack(SlowStack(ticks), warehouse, self.request)
        except BaseException as exc:
            self.error = exc

    def join(self) -> RunRecord:
        self._thread.join(120)
        assert self.record is not None, f"the run raised {self.error!r}"
        return self.record


def _ticks(warehouse: Warehouse, run_id: str) -> int:
    try:
        with connect(warehouse) as conn:
            rows = conn.execute("select count(*) from raw.first_writes where run_id = ?", [run_id])
        return int(rows[0][0])
    except Exception:
        return 0


def _refused(warehouse: Warehouse, holder: str) -> str:
    with pytest.raises(RunLocked) as refused:
        run_stack(SlowStack(1), warehouse)
    text = str(refused.value)
    assert text.startswith(f"{STACK} is already running into this warehouse since ")
    assert f", run id {holder};" in text
    return text


def _lock_session(warehouse: PostgresWarehouse) -> int:
    with connect(warehouse) as conn:
        rows = conn.execute(
            "select pid from pg_locks join pg_database d on d.oid = pg_locks.database "
            "where locktype = 'advisory' and granted and d.datname = current_database()"
        )
    assert len(rows) == 1, rows
    return int(rows[0][0])


def _only(warehouse: Warehouse, run: RunRecord) -> None:
    """The ledger holds this one run, succeeded; every write in raw.writes is its own."""
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [(r.run_id, r.status) for r in Ledger(warehouse).runs(STACK)] == [
        (run.run_id, RunStatus.SUCCEEDED)
    ]
    with connect(warehouse) as conn:
        writers = conn.execute(f"select distinct run_id from ({WRITES}) as w")
    assert writers == [(run.run_id,)]


def test_idle_session_timeout_does_not_drop_the_lock(postgres_warehouse) -> None:
    with connect(postgres_warehouse) as conn:
        conn.execute(
            f'alter database "{postgres_warehouse.database}" set idle_session_timeout = 400'
        )
    first = Running(postgres_warehouse)
    time.sleep(1.2)  # longer than the timeout: an idle lock session would be gone
    _refused(postgres_warehouse, first.request.run_id)
    _only(postgres_warehouse, first.join())


def test_a_terminated_lock_session_is_taken_again(postgres_warehouse) -> None:
    first = Running(postgres_warehouse)
    with connect(postgres_warehouse) as conn:
        assert conn.execute("select pg_terminate_backend(?)", [_lock_session(postgres_warehouse)])
    _refused(postgres_warehouse, first.request.run_id)  # at once: before any heartbeat
    time.sleep(1.0)  # two heartbeats
    _lock_session(postgres_warehouse)  # the heartbeat took the advisory lock again
    _refused(postgres_warehouse, first.request.run_id)
    _only(postgres_warehouse, first.join())


def test_a_restart_lets_no_second_run_in(server: PostgresServer) -> None:
    warehouse = server.create_database("lock")
    first = Running(warehouse, ticks=24)
    server.restart()
    _refused(warehouse, first.request.run_id)
    _only(warehouse, first.join())


def test_a_run_whose_lease_was_taken_over_fails_at_its_next_step(postgres_warehouse) -> None:
    first = Running(postgres_warehouse, ticks=10)  # "first" writes for ~1.5 s
    with connect(postgres_warehouse) as conn:  # what a run taking over an expired lease writes
        conn.execute("update stacks_meta._stacks_locks set token = 'other', run_id = 'r-other'")
    record = first.join()
    assert record.status == RunStatus.FAILED
    assert "lost the run lock: run r-other took it over" in (record.error or "")
    assert Ledger(postgres_warehouse).get(first.request.run_id) == record
    with connect(postgres_warehouse) as conn:  # it stopped at a boundary: "second" never ran
        assert not conn.table_exists("raw", "second_writes")


@pytest.fixture
def dead_elsewhere(postgres_warehouse) -> Iterator[PostgresWarehouse]:
    """A run of another machine that holds no session any more but whose lease is fresh."""
    run = RunRequest(stack=STACK, run_id="r-elsewhere")
    Ledger(postgres_warehouse).start(STACK, "local", run)
    with connect(postgres_warehouse) as conn:
        conn.execute("update stacks_meta._stacks_runs set lease = 'lock'")
    with run_lock_row(postgres_warehouse, run.run_id):
        yield postgres_warehouse


@contextlib.contextmanager
def run_lock_row(warehouse: PostgresWarehouse, run_id: str) -> Iterator[None]:
    from stacks_core.lease import lock_key

    with connect(warehouse) as conn:
        conn.execute("create schema if not exists stacks_meta")
        conn.execute(
            "create table if not exists stacks_meta._stacks_locks (lock_key bigint primary key, "
            "stack varchar not null, token varchar not null, run_id varchar, since timestamptz "
            "not null, heartbeat_at timestamptz not null, expires_at timestamptz not null, "
            "process varchar not null)"
        )
        conn.execute(
            "insert into stacks_meta._stacks_locks values (?, ?, 'gone', ?, now(), now(), "
            "now() + interval '1 hour', 'another-host:4242:1')",
            [lock_key(warehouse, STACK), STACK, run_id],
        )
    yield


def test_a_run_is_abandoned_only_once_its_lease_expired(dead_elsewhere) -> None:
    warehouse = dead_elsewhere
    _refused(warehouse, "r-elsewhere")  # its lease is fresh: it may only be reconnecting
    assert Ledger(warehouse).get("r-elsewhere").status == RunStatus.RUNNING  # type: ignore[union-attr]
    with connect(warehouse) as conn:
        conn.execute("update stacks_meta._stacks_locks set expires_at = now() - interval '1 s'")
    record = run_stack(SlowStack(1), warehouse)
    assert record.status == RunStatus.SUCCEEDED
    gone = Ledger(warehouse).get("r-elsewhere")
    assert gone is not None and gone.status == RunStatus.ABANDONED
    assert gone.error is not None and gone.error.startswith(
        "its process ended without recording an end (killed or cut off): "
        f"run {record.run_id} found its run lock free and its lease expired (last heartbeat "
    )
