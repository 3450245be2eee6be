"""One run at a time per stack and warehouse: a lock held in the warehouse itself.

Postgres: a session advisory lock, kept alive and backed by a lease row renewed by a heartbeat
(:mod:`stacks_core.lease`): a restart, ``idle_session_timeout`` or a killed lock session does not
let a second run in while the first is alive, and a run that loses its lock stops at the next
step boundary (:func:`guarded`). DuckDB: an exclusive ``flock`` on a lock file beside the database
file (released by the kernel when the process dies). Either way the lock is taken before anything
runs; a second run fails at once with :class:`RunLocked` ("already running since ..., run id
...") or, with ``wait=True``, waits for the first to end.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from stacks_contract.errors import RunLocked
from stacks_contract.models import RunRequest, utcnow
from stacks_contract.ports import Reporter
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

from stacks_core.lease import PgLease, held_sentence

__all__ = ["Lease", "guarded", "held", "lock_path", "run_lock"]

_POLL_S = 0.5


def lock_path(warehouse: DuckDBWarehouse, stack: str) -> Path:
    """The lock file of ``stack`` on a DuckDB warehouse: beside the database file."""
    return warehouse.path.with_name(f"{warehouse.path.name}.{stack}.lock")


class Lease:
    """What :func:`run_lock` yields: the run it protects can be renamed (:meth:`holder`) and asks
    at step boundaries whether it still holds the lock (:meth:`check`)."""

    def __init__(self, pg: PgLease | None = None, file: IO[str] | None = None) -> None:
        self._pg = pg
        self._file = file

    @property
    def lost(self) -> str | None:
        return self._pg.lost if self._pg is not None else None

    def holder(self, run_id: str) -> None:
        """The run now working under the lock (what "already running ..., run id" names)."""
        if self._pg is not None:
            self._pg.holder(run_id)
        elif self._file is not None:
            _write_holder(self._file, run_id)

    def check(self) -> None:
        """Raise :class:`~stacks_contract.errors.RunLockLost` once the lock is lost."""
        if self._pg is not None:
            self._pg.check()


def guarded(report: Reporter, lease: Lease) -> Reporter:
    """``report``, asking ``lease`` first: every orchestrator reports when a step starts, so a
    run that lost its lock fails there (:class:`RunLockLost`) instead of going on."""

    def report_(step: str, message: str) -> None:
        lease.check()
        report(step, message)

    return report_


@contextlib.contextmanager
def run_lock(
    warehouse: Warehouse,
    stack: str,
    request: RunRequest | str | None = None,
    *,
    wait: bool = False,
    abandon: bool = True,
    finder: str | None = None,
) -> Iterator[Lease]:
    """Hold the run lock of (``stack``, ``warehouse``) for the block, for the run ``request``
    (or run id; ``None``: no run, e.g. ``stacks clean``). ``abandon``: mark the runs it proves
    dead as abandoned in the ledger, saying ``finder`` found them (default: the run)."""
    from stacks_core.ledger import LEASE, Ledger

    run_id = request.run_id if isinstance(request, RunRequest) else request
    found = finder or (f"run {run_id}" if run_id else "a later run")
    if isinstance(warehouse, DuckDBWarehouse):
        with _file_lock(warehouse, stack, run_id, wait) as handle:
            if abandon:  # holding the flock proves every earlier holder's process has ended
                Ledger(warehouse).abandon(stack, found=f"{found} found its lock file free")
            token = LEASE.set("lock")
            try:
                yield Lease(file=handle)
            finally:
                LEASE.reset(token)
        return
    assert isinstance(warehouse, PostgresWarehouse)
    pg = PgLease(warehouse, stack, run_id)
    pg.acquire(wait)
    try:
        if abandon:
            Ledger(warehouse).abandon(
                stack, found=_evidence(found, pg), alive=pg.alive_runs() | {run_id or ""}
            )
        token = LEASE.set("lock")
        try:
            yield Lease(pg=pg)
        finally:
            LEASE.reset(token)
    finally:
        pg.release()


def _evidence(found: str, pg: PgLease) -> str:
    """What the taking run found, for the abandoned run's ledger sentence."""
    old = pg.replaced
    if old is None:
        return f"{found} found its run lock free"
    beat = old.heartbeat_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    why = "its process gone" if old.fresh else "its lease expired"
    return f"{found} found its run lock free and {why} (last heartbeat {beat})"


@contextlib.contextmanager
def _file_lock(
    warehouse: DuckDBWarehouse, stack: str, run_id: str | None, wait: bool
) -> Iterator[IO[str]]:
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
                    raise RunLocked(held_sentence(stack, _holder(handle))) from None
                time.sleep(_POLL_S)
        _write_holder(handle, run_id, since=True)
        try:
            yield handle
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_holder(handle: IO[str], run_id: str | None, *, since: bool = False) -> None:
    holder = {} if since else _holder(handle)
    if since:
        holder = {"since": utcnow().isoformat(), "pid": os.getpid()}
    if run_id:
        holder["run_id"] = run_id
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder))
    handle.flush()


def held(warehouse: Warehouse, stack: str) -> str | None:
    """DuckDB: the "already running" sentence when a run of ``stack`` holds its lock now, else
    None. (A running DuckDB stack keeps its file open, so a second process cannot even connect
    to say so; this asks the lock file, which needs no connection. Postgres: always None, the
    lock itself answers.)"""
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
            return held_sentence(stack, _holder(handle))
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _holder(handle: IO[str]) -> dict:
    handle.seek(0)
    with contextlib.suppress(ValueError):
        got = json.loads(handle.read() or "{}")
        return got if isinstance(got, dict) else {}
    return {}
