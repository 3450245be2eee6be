"""The local engine's sync: a declarative source run by airbyte-cdk, written as Airbyte's
destinations write (Destinations V2 "direct load") to Postgres or DuckDB.

* Batches: rows are committed every ``batch_size`` records and at every STATE message; a STATE is
  committed in the same transaction as the rows read before it, so a sync killed at any point
  resumes from the last committed state (at-least-once; deduplicated streams never duplicate).
* Modes: ``full_refresh_overwrite`` writes to ``<table>_airbyte_tmp`` and replaces the final
  table's rows at the end of a successful sync, in one transaction; ``*_append`` appends;
  ``incremental_deduped_history`` keeps one row per primary key (latest by cursor).
* Jobs: ``sync``; ``clear`` / ``reset`` empty the tables, drop the state and bump the generation;
  ``refresh`` drops the state, bumps the generation, re-reads everything and at the end removes
  rows of older generations.
* Cancellation (:attr:`JobContext.cancelled`) is honoured between batches: committed batches stay.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from stacks_el_airbyte.local import source as src
from stacks_el_airbyte.local.buffer import StreamBuffer
from stacks_el_airbyte.local.ddl import TMP_SUFFIX
from stacks_el_airbyte.local.destination import Destination
from stacks_el_airbyte.local.model import ConnectionConfig, JobContext, SyncCancelled, SyncOutcome

#: how often (in messages) the read loop looks at the cancel flag
_CANCEL_CHECK_EVERY = 500


class SourceFailed(RuntimeError):
    """The source connector reported an error (an AirbyteTraceMessage of type ERROR)."""


class CdkExecutor:
    """:class:`~stacks_el_airbyte.local.model.Executor` over airbyte-cdk declarative sources."""

    def __init__(self, batch_size: int = 20_000) -> None:
        self.batch_size = batch_size

    def discover(self, manifest: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
        """The source's streams (``GET /streams`` of the public API)."""
        return src.stream_properties(manifest, config)

    def run(self, connection: ConnectionConfig, job: JobContext) -> SyncOutcome:
        manifest = src.load_manifest(connection.source_manifest)
        plans = src.plan_streams(connection, manifest)
        dest = Destination(connection.destination)
        try:
            return _Sync(self, connection, job, manifest, plans, dest).run()
        finally:
            dest.close()


class _Sync:
    def __init__(
        self,
        executor: CdkExecutor,
        connection: ConnectionConfig,
        job: JobContext,
        manifest: dict[str, Any],
        plans: list[src.StreamPlan],
        dest: Destination,
    ) -> None:
        self.executor = executor
        self.connection = connection
        self.job = job
        self.manifest = manifest
        self.plans = plans
        self.dest = dest
        self.outcome = SyncOutcome()

    def _check_cancel(self) -> None:
        if self.job.cancelled.is_set():
            raise SyncCancelled(f"job {self.job.job_id} was cancelled")

    def run(self) -> SyncOutcome:
        cid = self.connection.connection_id
        saved = self.dest.states(cid)
        generations = {p.name: saved.get(p.name, (None, 0))[1] for p in self.plans}
        fresh = self.job.job_type in ("clear", "reset", "refresh")
        if fresh:
            with self.dest.transaction():
                for plan in self.plans:
                    generations[plan.name] += 1
                    self.dest.put_state(cid, plan.name, None, generations[plan.name])
                    if self.job.job_type != "refresh":
                        table = self.connection.table(plan.name)
                        self.dest.truncate(self.connection.schema, table)
                        self.dest.drop(self.connection.schema, table + TMP_SUFFIX)
            saved = {name: (None, gen) for name, gen in generations.items()}
            if self.job.job_type != "refresh":
                return self.outcome
        dialect = self.dest.dialect
        buffers = {
            p.name: StreamBuffer(p, self.connection, dialect, self.job.job_id, generations[p.name])
            for p in self.plans
        }
        for buf in buffers.values():
            key = buf.plan.primary_key if buf.dedup else ()
            self.dest.prepare(buf.schema, buf.final, buf.types, key)
            if buf.overwrite:
                self.dest.drop(buf.schema, buf.target)
                self.dest.prepare(buf.schema, buf.target, buf.types)
        states = [s for p in self.plans if p.incremental and (s := saved.get(p.name, (None, 0))[0])]
        self._read(buffers, states)
        self._check_cancel()
        with self.dest.transaction():  # the end of a successful sync
            for buf in buffers.values():
                if buf.overwrite:
                    names = [n for n, _ in buf.types]
                    self.dest.swap(buf.schema, buf.target, buf.final, names)
                elif self.job.job_type == "refresh":
                    gen = generations[buf.plan.name]
                    self.dest.delete_generations_before(buf.schema, buf.final, gen)
        for name, buf in buffers.items():
            self.outcome.streams[name] = buf.records
            self.outcome.records_synced += buf.records
            self.outcome.bytes_synced += buf.bytes
        return self.outcome

    def _read(self, buffers: dict[str, StreamBuffer], states: list[str]) -> None:
        from airbyte_cdk.models import AirbyteStateType, TraceType, Type

        catalog = src.configured_catalog(self.plans)
        messages = src.read(self.manifest, self.connection.source_config, catalog, states)
        errors: list[str] = []
        pending = 0
        seen = 0
        try:
            for message in messages:
                seen += 1
                if seen % _CANCEL_CHECK_EVERY == 0:
                    self._check_cancel()
                kind = message.type
                if kind == Type.RECORD:
                    record = message.record
                    buf = buffers.get(record.stream)
                    if buf is None:
                        continue
                    buf.add(record.data, record.emitted_at or time.time() * 1000)
                    pending += 1
                    if pending >= self.executor.batch_size:
                        self._commit(buffers, None)
                        pending = 0
                elif kind == Type.STATE:
                    state = message.state
                    if state.type not in (None, AirbyteStateType.STREAM) or state.stream is None:
                        continue  # global/legacy state: not produced by declarative streams
                    name, blob = src.state_json(state)
                    buf = buffers.get(name)
                    if buf is None or not buf.plan.incremental:
                        continue
                    self._commit(buffers, (name, blob, buf))
                    pending = 0
                elif kind == Type.TRACE and message.trace.type == TraceType.ERROR:
                    err = message.trace.error
                    errors.append(err.message or err.internal_message or "unknown error")
        finally:
            close = getattr(messages, "close", None)
            if close is not None:
                close()
        if errors:
            raise SourceFailed("The source failed: " + "; ".join(errors))
        self._commit(buffers, None)

    def _commit(
        self, buffers: dict[str, StreamBuffer], state: tuple[str, str, StreamBuffer] | None
    ) -> None:
        """One transaction: every buffered row, and the STATE that covers them."""
        self._check_cancel()
        with self.dest.transaction():
            for buf in buffers.values():
                if len(buf):
                    self.dest.write(buf.schema, buf.target, buf.types, buf.take(), buf.dedup_spec)
            if state is not None:
                name, blob, buf = state
                self.dest.put_state(self.connection.connection_id, name, blob, buf.generation)
