"""One run at a time per stack and warehouse: a lock held in the warehouse itself.

Postgres: a session-level advisory lock on a connection kept open for the run (released by the
server when the process dies, however it dies). DuckDB: an exclusive ``flock`` on a lock file
beside the database file (released by the kernel when the process dies). Either way the lock is
taken before anything runs; a second run fails at once with :class:`RunLocked` ("already
running since ..., run id ...") or, with ``wait=True``, waits for the first to end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from stacks_contract.errors import RunLocked
from stacks_contract.models import RunRequest, utcnow
from stacks_contract.warehouse import DuckDBWarehouse, Warehouse

__all__ = ["held", "lock_path", "run_lock"]

_POLL_S = 0.5


def lock_path(warehouse: DuckDBWarehouse, stack: str) -> Path:
    """The lock file of ``stack`` on a DuckDB warehouse: beside the database file."""
    return warehouse.path.with_name(f"{warehouse.path.name}.{stack}.lock")


@contextlib.contextmanager
def run_lock(
    warehouse: Warehouse,
    stack: str,
    request: RunRequest,
    *,
    wait: bool = False,
    abandon: bool = True,
) -> Iterator[None]:
    """Hold the run lock of (``stack``, ``warehouse``) for the block (``abandon``: and mark the
    runs it proves dead as abandoned in the ledger; ``stacks clean`` leaves the ledger alone)."""
    from stacks_core.ledger import LEASE, Ledger

    lock = (
        _file_lock(warehouse, stack, request, wait)
        if isinstance(warehouse, DuckDBWarehouse)
        else _advisory_lock(warehouse, stack, wait)
    )
    with lock:
        # holding the lock proves every earlier lock-holding run of the stack has ended
        if abandon:
            Ledger(warehouse).abandon(stack)
        token = LEASE.set("lock")
        try:
            yield
        finally:
            LEASE.reset(token)


@contextlib.contextmanager
def _file_lock(
    warehouse: DuckDBWarehouse, stack: str, request: RunRequest, wait: bool
) -> Iterator[None]:
    import fcntl

    from stacks_core.sql import duckdb_folder

    duckdb_folder(warehouse)
    path = lock_path(warehouse, stack)
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise RunLocked(_held(stack, _holder(handle))) from None
                time.sleep(_POLL_S)
        holder = {"run_id": request.run_id, "since": utcnow().isoformat(), "pid": os.getpid()}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def held(warehouse: Warehouse, stack: str) -> str | None:
    """DuckDB: the "already running" sentence when a run of ``stack`` holds its lock now, else
    None. (A running DuckDB stack keeps its file open, so a second process cannot even connect
    to say so; this asks the lock file, which needs no connection. Postgres: always None, the
    advisory lock itself answers.)"""
    import fcntl

    if not isinstance(warehouse, DuckDBWarehouse):
        return None
    path = lock_path(warehouse, stack)
    if not path.exists():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _held(stack, _holder(handle))
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _holder(handle: IO[str]) -> dict[str, str]:
    handle.seek(0)
    with contextlib.suppress(ValueError):
        got = json.loads(handle.read() or "{}")
        return got if isinstance(got, dict) else {}
    return {}


@contextlib.contextmanager
def _advisory_lock(warehouse: Warehouse, stack: str, wait: bool) -> Iterator[None]:
    from stacks_core.sql import connect

    ident = f"stacks run lock\0{stack}\0{warehouse.schema_}"
    key = int.from_bytes(
        hashlib.blake2b(ident.encode(), digest_size=8).digest(), "big", signed=True
    )
    with connect(warehouse) as conn:
        while not conn.execute("select pg_try_advisory_lock(?)", [key])[0][0]:
            if not wait:
                raise RunLocked(_held(stack, _running(warehouse, stack)))
            time.sleep(_POLL_S)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a lost connection has released it already
                conn.execute("select pg_advisory_unlock(?)", [key])


def _running(warehouse: Warehouse, stack: str) -> dict[str, str]:
    """The newest run of ``stack`` the ledger says is running (who holds the lock)."""
    from stacks_contract.models import RunStatus

    from stacks_core.ledger import Ledger

    with contextlib.suppress(Exception):
        for run in Ledger(warehouse).read(stack, 20) or []:
            if run.status == RunStatus.RUNNING:
                return {"run_id": run.run_id, "since": run.started_at.isoformat()}
    return {}


def _held(stack: str, holder: dict[str, str]) -> str:
    since = f" since {holder['since'][:19].replace('T', ' ')} UTC" if holder.get("since") else ""
    run_id = f", run id {holder['run_id']}" if holder.get("run_id") else ""
    return (
        f"{stack} is already running into this warehouse{since}{run_id}; wait for it to end, "
        "or pass --wait to start when it does."
    )
