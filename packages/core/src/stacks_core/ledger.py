"""The run ledger: one row per run in ``stacks_meta._stacks_runs`` of the stack's warehouse.

Written by whatever runs a stack (an orchestrator, the CLI): :meth:`Ledger.record` at start with
status ``running``, again at the end. Upserts on ``run_id``, so re-recording a run is idempotent,
and every write is retried with backoff when the failure is transient (the warehouse restarting,
a connection lost: :func:`stacks_core.retry.is_transient`); other errors are raised at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime

from stacks_contract.models import RunRecord, RunRequest, RunStatus, TriggerKind, utcnow
from stacks_contract.warehouse import Warehouse

from stacks_core.retry import retry_transient
from stacks_core.sql import Connection, connect

LEDGER_SCHEMA = "stacks_meta"
LEDGER_TABLE = "_stacks_runs"
#: the ledger's ``error`` of an interrupted run
INTERRUPTED_SENTENCE = "interrupted (Ctrl-C or SIGTERM); the next run will converge"
_COLUMNS = (
    "run_id",
    "stack",
    "orchestrator",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    "rows_json",
    "models_built",
    "tests_passed",
    "tests_failed",
    "error",
    "steps_json",
    "models_json",
    "details_json",
)
#: columns added after the first release: an older ledger table gains them on first use
_ADDED = ("steps_json", "models_json", "lease", "details_json")
#: RunRecord fields kept together in ``details_json`` (added later; absent: their defaults)
_DETAILS = ("tests_warned", "seeds_built", "snapshots_built", "artifacts")
#: how the liveness of a run is known: "lock" = it holds the stack's run lock
#: (:mod:`stacks_core.runlock`), so a ``running`` row whose lock is free was abandoned
LEASE: ContextVar[str | None] = ContextVar("stacks_ledger_lease", default=None)


class Ledger:
    """``attempts``: how often a write (or read) is tried when its failures are transient
    (waiting 0.5 s, 1 s, 2 s, ... between tries: about 15 s in all with the default)."""

    def __init__(self, warehouse: Warehouse, *, attempts: int = 6) -> None:
        self.warehouse = warehouse
        self.attempts = attempts

    def _ensure(self, conn: Connection) -> None:
        if conn.table_exists(LEDGER_SCHEMA, LEDGER_TABLE):
            have = set(conn.columns(LEDGER_SCHEMA, LEDGER_TABLE))
            for column in _ADDED:
                if column not in have:
                    conn.execute(
                        f"alter table {LEDGER_SCHEMA}.{LEDGER_TABLE} "
                        f"add column if not exists {column} varchar"
                    )
            return
        # Several steps may record their first run at once (parallel orchestrator workers): on
        # Postgres, concurrent "create ... if not exists" can still collide in the catalog
        # (UniqueViolation), so a failure is retried once the other writer's DDL is visible.
        for attempt in range(3):
            try:
                conn.execute(f"create schema if not exists {LEDGER_SCHEMA}")
                conn.execute(
                    f"create table if not exists {LEDGER_SCHEMA}.{LEDGER_TABLE} ("
                    "run_id varchar primary key, stack varchar not null, "
                    "orchestrator varchar not null, trigger varchar not null, "
                    "status varchar not null, started_at timestamptz not null, "
                    "finished_at timestamptz, rows_json varchar not null, models_built integer, "
                    "tests_passed integer, tests_failed integer, error varchar, "
                    "steps_json varchar, models_json varchar, lease varchar, details_json varchar)"
                )
                return
            except Exception:
                if conn.table_exists(LEDGER_SCHEMA, LEDGER_TABLE):
                    return
                if attempt == 2:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def record(self, run: RunRecord) -> None:
        values = (
            run.run_id,
            run.stack,
            run.orchestrator,
            run.trigger.value,
            run.status.value,
            run.started_at,
            run.finished_at,
            json.dumps(run.rows, sort_keys=True),
            run.models_built,
            run.tests_passed,
            run.tests_failed,
            run.error,
            json.dumps(list(run.steps)),
            json.dumps(list(run.models)),
            json.dumps({k: getattr(run, k) for k in _DETAILS}),
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
        lease = LEASE.get()

        def write() -> None:
            with connect(self.warehouse) as conn:
                self._ensure(conn)
                conn.execute(
                    f"insert into {LEDGER_SCHEMA}.{LEDGER_TABLE} ({', '.join(_COLUMNS)}, lease) "
                    f"values ({', '.join('?' * (len(_COLUMNS) + 1))}) "
                    f"on conflict (run_id) do update set {updates}",
                    (*values, lease),
                )

        retry_transient(write, attempts=self.attempts)

    def start(self, stack: str, orchestrator: str, request: RunRequest) -> RunRecord:
        """Record ``request`` as running (an unreachable warehouse raises here, before any
        work) and return the record an orchestrator later finishes and records again."""
        run = RunRecord(
            run_id=request.run_id,
            stack=stack,
            orchestrator=orchestrator,
            trigger=request.trigger,
            status=RunStatus.RUNNING,
            started_at=utcnow(),
        )
        self.record(run)
        return run

    def abandon(
        self,
        stack: str,
        *,
        found: str = "the next run found its run lock free",
        alive: Iterable[str] = (),
    ) -> int:
        """Mark ``stack``'s ``running`` rows that held the run lock as ``abandoned``, except the
        runs in ``alive`` (holders of a live lease). Call it only while holding that lock: then
        none of the others is alive. ``found``: what the caller found, for the row's sentence.
        Returns how many rows changed."""
        why = f"its process ended without recording an end (killed or cut off): {found}"
        keep = sorted(set(alive))
        return retry_transient(lambda: self._abandon(stack, why, keep), attempts=self.attempts)

    def _abandon(self, stack: str, why: str, keep: list[str]) -> int:
        with connect(self.warehouse) as conn:
            if not conn.table_exists(LEDGER_SCHEMA, LEDGER_TABLE):
                return 0
            self._ensure(conn)
            where = "stack = ? and status = ? and lease = 'lock'"
            params: list[object] = [stack, RunStatus.RUNNING.value]
            if keep:
                where += f" and run_id not in ({', '.join('?' * len(keep))})"
                params += keep
            stale = conn.execute(
                f"select count(*) from {LEDGER_SCHEMA}.{LEDGER_TABLE} where {where}", params
            )[0][0]
            if stale:
                conn.execute(
                    f"update {LEDGER_SCHEMA}.{LEDGER_TABLE} set status = ?, finished_at = ?, "
                    f"error = ? where {where}",
                    [RunStatus.ABANDONED.value, utcnow(), why, *params],
                )
        return int(stale)

    def interrupt(self, run_id: str, *, attempts: int = 3) -> RunRecord | None:
        """Mark ``run_id`` interrupted if the ledger still says it is running (Ctrl-C, SIGTERM).
        Retried with backoff, whatever the error: the warehouse may be the reason the run was
        stopped (a DuckDB file still held by the interrupted tool, say)."""

        def mark() -> RunRecord | None:
            run = self.get(run_id)
            if run is None or run.status != RunStatus.RUNNING:
                return run
            done = run.model_copy(
                update={
                    "status": RunStatus.INTERRUPTED,
                    "finished_at": utcnow(),
                    "error": INTERRUPTED_SENTENCE,
                }
            )
            self.record(done)
            return done

        for attempt in range(attempts):
            try:
                return mark()
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        return None

    def runs(self, stack: str | None = None) -> list[RunRecord]:
        """Every recorded run, oldest first."""
        return retry_transient(lambda: self._runs(stack), attempts=self.attempts)

    def _runs(self, stack: str | None) -> list[RunRecord]:
        with connect(self.warehouse) as conn:
            self._ensure(conn)
            sql = f"select {', '.join(_COLUMNS)} from {LEDGER_SCHEMA}.{LEDGER_TABLE}"
            params = None
            if stack is not None:
                sql += " where stack = ?"
                params = [stack]
            rows = conn.execute(sql + " order by started_at, run_id", params)
        return [_to_record(r) for r in rows]

    def read(self, stack: str | None = None, limit: int | None = None) -> list[RunRecord] | None:
        """The most recent runs, newest first, read without changing anything (a DuckDB file
        is opened read-only; a missing file is not created). ``None`` when there is no ledger."""
        from stacks_contract.warehouse import DuckDBWarehouse

        if isinstance(self.warehouse, DuckDBWarehouse) and not self.warehouse.path.exists():
            return None
        with connect(self.warehouse, read_only=True) as conn:
            if not conn.table_exists(LEDGER_SCHEMA, LEDGER_TABLE):
                return None
            have = set(conn.columns(LEDGER_SCHEMA, LEDGER_TABLE))
            shown = [c if c in have else f"null as {c}" for c in _COLUMNS]
            sql = f"select {', '.join(shown)} from {LEDGER_SCHEMA}.{LEDGER_TABLE}"
            params: list[object] = []
            if stack is not None:
                sql += " where stack = ?"
                params.append(stack)
            sql += " order by started_at desc, run_id desc"
            if limit is not None:
                sql += f" limit {int(limit)}"
            rows = conn.execute(sql, params or None)
        return [_to_record(r) for r in rows]

    def get(self, run_id: str) -> RunRecord | None:
        return next((r for r in self.runs() if r.run_id == run_id), None)


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _to_record(row: tuple) -> RunRecord:
    d = dict(zip(_COLUMNS, row, strict=True))
    return RunRecord(
        run_id=d["run_id"],
        stack=d["stack"],
        orchestrator=d["orchestrator"],
        trigger=TriggerKind(d["trigger"]),
        status=RunStatus(d["status"]),
        started_at=_aware(d["started_at"]),
        finished_at=_aware(d["finished_at"]),
        rows=json.loads(d["rows_json"]),
        models_built=d["models_built"] or 0,
        tests_passed=d["tests_passed"] or 0,
        tests_failed=d["tests_failed"] or 0,
        error=d["error"],
        steps=tuple(json.loads(d["steps_json"] or "[]")),
        models=tuple(json.loads(d["models_json"] or "[]")),
        **{k: v for k, v in json.loads(d["details_json"] or "{}").items() if k in _DETAILS},
    )
