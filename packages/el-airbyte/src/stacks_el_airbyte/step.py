"""``AirbyteStep``: sync a connection of Airbyte (a real one or the local engine) as an EL step."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from stacks_contract.errors import StacksError, StepFailed
from stacks_contract.models import LoadResult, RunRequest, TableRef, utcnow
from stacks_contract.ports import ELStep, Reporter, silent
from stacks_contract.warehouse import DEFAULT_SCHEMA, Warehouse

from stacks_el_airbyte.client import (
    TERMINAL,
    Credentials,
    active_jobs,
    failure_reason,
    iter_connections,
    translate,
)

#: consecutive transient failures of a status poll before the run gives up
POLL_RETRIES = 5


class AirbyteStep(ELStep):
    """Trigger a sync of one Airbyte connection, wait for its job, count the rows it wrote.

    ``connection_id``: the connection's id or name; or a callable warehouse -> id or name when
    the step serves several warehouses (the connection, not the step, picks the destination).

    ``streams``: the connection's stream names, or a mapping stream -> table name (when the
    connection's destination prefixes the tables); the tables live in ``schema`` (None: the
    warehouse's schema). Airbyte writes them itself, so :meth:`produces` only names them.

    ``poll_interval_s``: the longest wait between two polls of the job (they start at 0.1 s);
    ``timeout_s``: cancel the job and fail after that long (None: wait).

    Credentials come from the environment: ``AIRBYTE_SERVER_URL`` (the public API, e.g.
    ``http://localhost:8000/api/public/v1`` or ``https://api.airbyte.com/v1``) and either
    ``AIRBYTE_CLIENT_ID`` + ``AIRBYTE_CLIENT_SECRET`` or ``AIRBYTE_TOKEN``.
    Rows are counted in the warehouse: the rows whose ``_airbyte_meta.sync_id`` is the job's id
    (Airbyte's job stats count records read, not the rows a deduplicated table kept).
    """

    incremental: ClassVar[bool] = True
    metadata_columns: ClassVar[tuple[str, ...]] = ("_airbyte_*",)
    #: Airbyte writes where the connection's destination points: ``stacks check`` must not
    #: trigger a refresh meant for a scratch warehouse
    fixed_destination: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        connection_id: str | Callable[[Warehouse], str],
        streams: Iterable[str] | Mapping[str, str],
        *,
        schema: str | None = DEFAULT_SCHEMA,
        poll_interval_s: float = 2.0,
        timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.connection_id = connection_id
        pairs = streams.items() if isinstance(streams, Mapping) else ((s, s) for s in streams)
        self.tables: dict[str, str] = dict(pairs)
        self.schema = schema
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.env = env
        #: the last job this step waited for (its id is the run's load id)
        self.last_job: Any = None

    # --- the manifest ---------------------------------------------------------------------------

    def produces(self) -> tuple[TableRef, ...]:
        schema = self.schema or DEFAULT_SCHEMA
        return tuple(TableRef(schema, t) for t in self.tables.values())

    def _schema(self, warehouse: Warehouse) -> str:
        return self.schema or warehouse.schema_name

    # --- the API --------------------------------------------------------------------------------

    def connection_for(self, warehouse: Warehouse) -> str:
        """The connection (id or name) whose destination is ``warehouse``: Airbyte's destination
        belongs to the connection, so a step serving several warehouses passes a callable."""
        if callable(self.connection_id):
            return self.connection_id(warehouse)
        return self.connection_id

    def credentials(self) -> Credentials:
        return Credentials.from_env(self.env)

    def connections(self) -> list[Any]:
        """Every connection the credentials see (all pages), as the SDK's ConnectionResponse."""
        creds = self.credentials()
        try:
            return list(iter_connections(creds.sdk()))
        except Exception as exc:
            raise translate(exc, creds, self.name) from None

    def _resolve(self, api: Any, creds: Credentials, wanted: str) -> str:
        """The connection's id; ``connection_id`` may also be the connection's name.

        The first call of a run: a 401 with client credentials is tried once more, because the
        SDK caches tokens per client id and secret across servers and restarts (a restarted
        server rejects the cached token; the SDK then drops it and signs in again)."""
        try:
            return self._resolve_once(api, creds, wanted)
        except StepFailed as err:
            if getattr(err, "http_status", None) != 401 or not creds.client_id:
                raise
        return self._resolve_once(api, creds, wanted)

    def _resolve_once(self, api: Any, creds: Credentials, wanted: str) -> str:
        import uuid

        from airbyte_api import api as ops

        try:
            uuid.UUID(wanted)
        except ValueError:
            pass  # a name: found by listing the connections below
        else:
            try:
                res = api.connections.get_connection(
                    request=ops.GetConnectionRequest(connection_id=wanted)
                )
                return str(res.connection_response.connection_id)
            except Exception as exc:
                if getattr(exc, "status_code", None) != 404:
                    raise translate(exc, creds, self.name, connection_id=wanted) from None
        try:
            api.health.get_health_check()
            named = [c for c in iter_connections(api) if c.name == wanted]
        except Exception as exc:
            if getattr(exc, "status_code", None) == 404:
                from stacks_el_airbyte.client import base_path_sentence

                raise StepFailed(self.name, base_path_sentence(creds.server_url)) from None
            raise translate(exc, creds, self.name) from None
        if len(named) == 1:
            return str(named[0].connection_id)
        raise StepFailed(
            self.name,
            f"Airbyte at {creds.server_url} has no connection {wanted!r} visible to "
            f"these credentials: list them with GET {creds.server_url}/connections "
            "(AirbyteStep.connections() reads every page).",
        )

    def _start(self, api: Any, creds: Credentials, connection_id: str, refresh: bool) -> Any:
        """A new job, or the connection's running job when Airbyte answers 409."""
        from airbyte_api import models

        kind = models.JobTypeEnum.REFRESH if refresh else models.JobTypeEnum.SYNC
        for _ in range(3):
            try:
                res = api.jobs.create_job(
                    request=models.JobCreateRequest(connection_id=connection_id, job_type=kind)
                )
                return res.job_response, False
            except Exception as exc:
                if getattr(exc, "status_code", None) != 409:
                    raise translate(exc, creds, self.name, connection_id=connection_id) from None
            running = active_jobs(api, connection_id)
            if running:
                return running[0], True
        raise StepFailed(self.name, f"Airbyte keeps refusing a sync of {connection_id} (409).")

    def _get(self, api: Any, creds: Credentials, job_id: int) -> Any:
        from airbyte_api import api as ops

        for retry in range(POLL_RETRIES + 1):
            try:
                res = api.jobs.get_job(request=ops.GetJobRequest(job_id=job_id))
                return res.job_response
            except Exception as exc:
                err = translate(exc, creds, self.name)
                if getattr(err, "http_status", None) == 401 and retry == 0 and creds.client_id:
                    continue  # a token the server forgot (restarted): the SDK signs in again
                if not err.transient or retry == POLL_RETRIES:
                    raise err from None
                from stacks_core.retry import backoff

                time.sleep(backoff(retry + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, api: Any, creds: Credentials, job: Any, report: Reporter) -> Any:
        seen: tuple[str, int] | None = None
        polls = 0
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        while True:
            status = str(getattr(job.status, "value", job.status))
            now = (status, int(job.rows_synced or 0))
            if now != seen:
                report(self.name, f"Airbyte job {job.job_id}: {status}, {now[1]} records so far")
                seen = now
            if status in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                self._cancel_job(api, job.job_id)
                raise StepFailed(
                    self.name,
                    f"Airbyte job {job.job_id} did not finish in {self.timeout_s} s "
                    "and was cancelled.",
                )
            # short jobs end sooner than one full interval: polls start at 0.1 s and grow
            time.sleep(min(self.poll_interval_s, 0.1 * 1.5**polls))
            polls += 1
            job = self._get(api, creds, job.job_id)

    def _cancel_job(self, api: Any, job_id: int) -> None:
        from airbyte_api import api as ops

        # it may have ended meanwhile, or the server went: then nothing is left to stop
        with contextlib.suppress(Exception):
            api.jobs.cancel_job(request=ops.CancelJobRequest(job_id=job_id))

    # --- the port -------------------------------------------------------------------------------

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        started = utcnow()
        creds = self.credentials()
        api = creds.sdk()
        connection_id = self._resolve(api, creds, self.connection_for(warehouse))
        job, attached = self._start(api, creds, connection_id, request.full_refresh)
        if attached:
            report(
                self.name,
                f"a sync of {connection_id} is already running: attached to job "
                f"{job.job_id} instead of starting a second",
            )
        try:
            job = self._wait(api, creds, job, report)
        except KeyboardInterrupt:
            self._cancel_job(api, job.job_id)
            raise
        self.last_job = job
        status = str(getattr(job.status, "value", job.status))
        if status == "failed":
            reason = failure_reason(creds, job.job_id)
            why = f": {reason}" if reason else " (its attempts' logs are in Airbyte)"
            raise StepFailed(
                self.name, f"Airbyte job {job.job_id} of connection {connection_id} failed{why}"
            )
        if status == "cancelled":
            raise StepFailed(
                self.name,
                f"Airbyte job {job.job_id} of connection {connection_id} was "
                "cancelled before it finished; the next run starts a new sync.",
            )
        rows = self.count_rows(warehouse, job.job_id)
        result = LoadResult(
            step=self.name,
            run_id=request.run_id,
            load_id=str(job.job_id),
            rows=rows,
            started_at=started,
            finished_at=utcnow(),
        )
        report(self.name, f"{result.total_rows} rows into {len(rows)} tables (job {job.job_id})")
        return result

    def count_rows(self, warehouse: Warehouse, job_id: int) -> dict[str, int]:
        """Rows per table whose ``_airbyte_meta.sync_id`` is ``job_id``."""
        from stacks_core.sql import connect, qualified

        schema = self._schema(warehouse)
        out: dict[str, int] = {}
        with connect(warehouse) as conn:
            for table in self.tables.values():
                if not conn.table_exists(schema, table):
                    out[f"{schema}.{table}"] = 0
                    continue
                sync_id = (
                    "_airbyte_meta ->> 'sync_id'"
                    if conn.dialect == "postgres"
                    else "json_extract_string(_airbyte_meta, '$.sync_id')"
                )
                sql = f"select count(*) from {qualified(schema, table)} where {sync_id} = ?"
                out[f"{schema}.{table}"] = int(conn.execute(sql, [str(job_id)])[0][0])
        return out

    def cancel(self, run_id: str, warehouse: Warehouse) -> None:
        """Cancel every job of the connection still running, and wait until each is terminal."""
        creds = self.credentials()
        api = creds.sdk()
        try:
            connection_id = self._resolve(api, creds, self.connection_for(warehouse))
            jobs = active_jobs(api, connection_id)
            for job in jobs:
                self._cancel_job(api, job.job_id)
            for job in jobs:
                deadline = time.monotonic() + 120
                while str(getattr(job.status, "value", job.status)) not in TERMINAL:
                    if time.monotonic() > deadline:
                        raise StepFailed(self.name, f"Airbyte job {job.job_id} did not stop.")
                    time.sleep(min(self.poll_interval_s, 0.5))
                    job = self._get(api, creds, job.job_id)
        except StacksError:
            raise
        except Exception as exc:
            raise translate(exc, creds, self.name) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, connection_id={self.connection_id!r})"
