"""The Postgres run lock: a session advisory lock, kept alive and backed by a lease row.

An advisory lock lives as long as its session, and a session can vanish under a live run (a
server restart, ``idle_session_timeout``, ``pg_terminate_backend``, a dropped connection). So:

* the lock's session has TCP keepalives and no idle timeout of its own;
* a heartbeat thread checks every few seconds that the session still holds the lock and renews a
  lease row in ``stacks_meta._stacks_locks`` (run id, since, the holder's host and process, and
  ``expires_at``); when the session is gone it reconnects and takes the lock again;
* a run that finds the advisory lock free but a lease row of another holder that is still fresh
  (and, on the same host, whose process is alive) treats the stack as running: the holder is
  only reconnecting. A lease row of a dead process, or an expired one, is taken over;
* a holder whose lease row now names someone else (it was taken over while this process could
  not renew it) has lost the lock: :attr:`PgLease.lost` says so and :meth:`PgLease.check` raises
  :class:`~stacks_contract.errors.RunLockLost`, which the run hits at its next step boundary.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from stacks_contract.errors import RunLocked, RunLockLost
from stacks_contract.warehouse import PostgresWarehouse

from stacks_core.sql import Connection, connect

__all__ = ["LEASE_ENV", "LEASE_TABLE", "Holder", "PgLease", "lease_seconds"]

LEASE_SCHEMA = "stacks_meta"
LEASE_TABLE = "_stacks_locks"
#: seconds a lease lasts without a heartbeat (default 30)
LEASE_ENV = "STACKS_LOCK_LEASE_S"
_POLL_S = 0.5
#: the lock session notices a dead peer in ~15 s, not the kernel's two hours
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "15000",
}
_TABLE = f"{LEASE_SCHEMA}.{LEASE_TABLE}"


def lease_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get(LEASE_ENV, "30")))
    except ValueError:
        return 30.0


def lock_key(warehouse: PostgresWarehouse, stack: str) -> int:
    ident = f"stacks run lock\0{stack}\0{warehouse.schema_}"
    digest = hashlib.blake2b(ident.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _started() -> str:
    """This process's start time in clock ticks since boot (so a reused pid is not taken for
    the holder), or "" where /proc has none."""
    with contextlib.suppress(OSError, IndexError):
        stat = open(f"/proc/{os.getpid()}/stat").read()  # noqa: SIM115 (one read)
        return stat.rsplit(")", 1)[1].split()[19]
    return ""


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_started()}"


def _dead_here(process: str) -> bool:
    """``process`` (host:pid:start) ran on this host and is gone."""
    host, _, rest = process.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine: only the lease's expiry can tell
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 (one read)
    except OSError:
        return True
    return bool(start) and stat.rsplit(")", 1)[1].split()[19] != start


@dataclass(frozen=True)
class Holder:
    """A lease row: who holds (or held) the lock."""

    token: str
    run_id: str | None
    since: datetime
    heartbeat_at: datetime
    process: str
    fresh: bool

    @property
    def alive(self) -> bool:
        return self.fresh and not _dead_here(self.process)

    def describe(self) -> dict[str, str]:
        got = {"since": self.since.isoformat()}
        if self.run_id:
            got["run_id"] = self.run_id
        return got


class _Taken(Exception):
    """The lease row names another holder (or is gone)."""


class PgLease:
    """The run lock of ``stack`` on a Postgres warehouse; :meth:`acquire`, then :meth:`release`."""

    def __init__(self, warehouse: PostgresWarehouse, stack: str, run_id: str | None) -> None:
        self.warehouse = warehouse
        self.stack = stack
        self.run_id = run_id
        self.key = lock_key(warehouse, stack)
        self.token = uuid.uuid4().hex
        self.seconds = lease_seconds()
        self.interval = max(0.2, min(5.0, self.seconds / 6))
        #: the lease this one replaced (a dead or expired holder), for the ledger's sentence
        self.replaced: Holder | None = None
        #: why this process no longer holds the lock (None while it does)
        self.lost: str | None = None
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._mutex = threading.Lock()  # the heartbeat and holder() share the session

    # --- the session --------------------------------------------------------------------------

    def _open(self) -> Connection:
        conn = connect(self.warehouse, libpq=KEEPALIVES)
        for setting in ("idle_session_timeout", "idle_in_transaction_session_timeout"):
            with contextlib.suppress(Exception):  # idle_session_timeout: PostgreSQL 14+
                conn.execute(f"set {setting} = 0")
        return conn

    def _ensure_table(self, conn: Connection) -> None:
        if conn.table_exists(LEASE_SCHEMA, LEASE_TABLE):
            return  # (a user without CREATE on the database may still take the lock)
        for attempt in range(3):
            try:
                conn.execute(f"create schema if not exists {LEASE_SCHEMA}")
                conn.execute(
                    f"create table if not exists {_TABLE} (lock_key bigint primary key, "
                    "stack varchar not null, token varchar not null, run_id varchar, "
                    "since timestamptz not null, heartbeat_at timestamptz not null, "
                    "expires_at timestamptz not null, process varchar not null)"
                )
                return
            except Exception:  # concurrent first creations collide in the catalog
                if conn.table_exists(LEASE_SCHEMA, LEASE_TABLE):
                    return
                if attempt == 2:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _row(self, conn: Connection) -> Holder | None:
        rows = conn.execute(
            f"select token, run_id, since, heartbeat_at, process, expires_at > now() "
            f"from {_TABLE} where lock_key = ?",
            [self.key],
        )
        return Holder(*rows[0]) if rows else None

    def _try_lock(self, conn: Connection) -> bool:
        return bool(conn.execute("select pg_try_advisory_lock(?)", [self.key])[0][0])

    def _unlock(self, conn: Connection) -> None:
        with contextlib.suppress(Exception):  # a lost session has released it already
            conn.execute("select pg_advisory_unlock(?)", [self.key])

    def _holds(self, conn: Connection) -> bool:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        rows = conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and granted "
            "and pid = pg_backend_pid() and classid = ? and objid = ? and objsubid = 1",
            [unsigned >> 32, unsigned & 0xFFFFFFFF],
        )
        return bool(rows[0][0])

    # --- taking and keeping the lock ----------------------------------------------------------

    def acquire(self, wait: bool) -> None:
        """Take the lock, or raise :class:`RunLocked` naming the holder (``wait``: poll until it
        is free)."""
        conn = self._conn = self._open()
        try:
            self._ensure_table(conn)
            while True:
                row: Holder | None = None
                if self._try_lock(conn):
                    row = self._row(conn)
                    if row is None or not row.alive:
                        break
                    self._unlock(conn)  # its holder is alive, only reconnecting
                else:
                    row = self._row(conn)
                if not wait:
                    raise RunLocked(held_sentence(self.stack, row.describe() if row else {}))
                time.sleep(_POLL_S)
            self.replaced = row
            conn.execute(
                f"insert into {_TABLE} (lock_key, stack, token, run_id, since, heartbeat_at, "
                "expires_at, process) values (?, ?, ?, ?, now(), now(), "
                "now() + make_interval(secs => ?), ?) on conflict (lock_key) do update set "
                "stack = excluded.stack, token = excluded.token, run_id = excluded.run_id, "
                "since = excluded.since, heartbeat_at = excluded.heartbeat_at, "
                "expires_at = excluded.expires_at, process = excluded.process",
                [self.key, self.stack, self.token, self.run_id, self.seconds, _this_process()],
            )
        except BaseException:
            self._unlock(conn)
            conn.close()
            self._conn = None
            raise
        self._beat = threading.Thread(target=self._heartbeat, name="stacks-lease", daemon=True)
        self._beat.start()

    def alive_runs(self) -> set[str]:
        """Run ids of other holders whose lease is alive (other schemas' locks of the stack)."""
        assert self._conn is not None
        with self._mutex:
            rows = self._conn.execute(
                f"select token, run_id, since, heartbeat_at, process, expires_at > now() "
                f"from {_TABLE} where stack = ? and token <> ?",
                [self.stack, self.token],
            )
        return {h.run_id for h in (Holder(*r) for r in rows) if h.alive and h.run_id}

    def holder(self, run_id: str) -> None:
        """The run now working under this lock (``stacks check`` runs several)."""
        self.run_id = run_id
        with self._mutex, contextlib.suppress(Exception):  # the heartbeat writes it too
            if self._conn is not None:
                self._conn.execute(
                    f"update {_TABLE} set run_id = ? where lock_key = ? and token = ?",
                    [run_id, self.key, self.token],
                )

    def _renew(self, conn: Connection) -> None:
        if not self._holds(conn) and not self._try_lock(conn):
            row = self._row(conn)
            if row is None or row.token != self.token:
                raise _Taken(row)
            raise ConnectionError("another session holds the advisory lock for a moment")
        renewed = conn.execute(
            f"update {_TABLE} set heartbeat_at = now(), "
            "expires_at = now() + make_interval(secs => ?), run_id = ? "
            "where lock_key = ? and token = ? returning 1",
            [self.seconds, self.run_id, self.key, self.token],
        )
        if not renewed:
            raise _Taken(self._row(conn))

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self._mutex:
                    if self._conn is None:
                        self._conn = self._open()
                    self._renew(self._conn)
            except _Taken as taken:
                row = taken.args[0]
                by = f"run {row.run_id}" if row is not None and row.run_id else "another run"
                self.lost = (
                    f"lost the run lock: {by} took it over while this run could not renew its lease"
                    if row is not None
                    else "lost the run lock: its lease row is gone"
                )
                return
            except Exception:  # the session is gone: reconnect on the next beat
                with self._mutex:
                    if self._conn is not None:
                        with contextlib.suppress(Exception):
                            self._conn.close()
                    self._conn = None

    def check(self) -> None:
        """Raise :class:`RunLockLost` once the lock is lost (call it at step boundaries)."""
        if self.lost:
            raise RunLockLost(f"{self.stack}: {self.lost}; the next run will converge.")

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=self.interval + 10)
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not self.lost:
                with contextlib.suppress(Exception):
                    conn.execute(
                        f"delete from {_TABLE} where lock_key = ? and token = ?",
                        [self.key, self.token],
                    )
                self._unlock(conn)
        finally:
            with contextlib.suppress(Exception):
                conn.close()


def held_sentence(stack: str, holder: dict[str, str]) -> str:
    since = f" since {holder['since'][:19].replace('T', ' ')} UTC" if holder.get("since") else ""
    run_id = f", run id {holder['run_id']}" if holder.get("run_id") else ""
    return (
        f"{stack} is already running into this warehouse{since}{run_id}; wait for it to end, "
        "or pass --wait to start when it does."
    )
