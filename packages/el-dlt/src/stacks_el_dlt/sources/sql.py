"""A SQL database (e.g. a Postgres "app" database) through dlt's ``sql_database`` source.

Tables are read with the ``pyarrow`` backend (typed Arrow batches, the fast path). Which tables
and how each loads (merge on its key, incremental on a cursor; or a replaced snapshot) is decided
per table by :mod:`stacks_el_dlt.sources.sql_tables`; the Postgres type map is
:mod:`stacks_el_dlt.sources.sql_types`. With a table list, building the step or asking
:meth:`~DltStep.produces` never connects to the database; without one, the source schema is read
once per step object (never the warehouse).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from stacks_contract.errors import ConfigError, StacksError, StepFailed
from stacks_contract.models import LoadResult, RunRequest, TableRef
from stacks_contract.ports import Reporter, silent
from stacks_contract.warehouse import PostgresWarehouse, Warehouse

from stacks_el_dlt.errors import TablesFailed
from stacks_el_dlt.names import XMIN
from stacks_el_dlt.sources.sql_build import SourceBuild, sql_source, url_of
from stacks_el_dlt.sources.sql_probe import (
    fast_identifier,
    postgres_relations,
    record_run,
    skip_if_unchanged,
)
from stacks_el_dlt.sources.sql_tables import (
    CURSOR_CANDIDATES,
    TablePlan,
    check_options,
    list_tables,
)
from stacks_el_dlt.step import DltStep

log = logging.getLogger("stacks_el_dlt.sql")


def _relations(url: str, schema: str | None, exclude: Iterable[str]) -> tuple[str, ...] | None:
    """The source's relations from its catalog without SQLAlchemy (Postgres), else ``None``."""
    from fnmatch import fnmatchcase

    try:
        found = postgres_relations(url, schema)
    except Exception:
        return None  # the reflection the caller falls back to says what is wrong
    patterns = tuple(exclude)
    if not found or any(not any(fnmatchcase(n, p) for n in found) for p in patterns):
        return None  # list_tables' reflection says what is wrong (an exclude matching nothing)
    kept = tuple(n for n in sorted(found) if not any(fnmatchcase(n, p) for p in patterns))
    return kept or None


class SqlDatabaseStep(DltStep):
    """Tables of a SQL database as an EL step: every table, view and materialized view of the
    schema by default (``tables`` to pick, ``exclude`` patterns to leave out); keyed tables
    merge incrementally, keyless ones are replaced (see :mod:`.sql_tables`)."""

    incremental = True
    windows = True
    #: a window reads the chosen tables by their own cursor kind (see :mod:`.sql_window`), not
    #: every resource by :func:`stacks_el_dlt.window.apply_window` (an xmin cursor is no time)
    windows_per_table: ClassVar[bool] = True

    def __init__(
        self,
        database: str | PostgresWarehouse,
        tables: Sequence[str] | None = None,
        *,
        name: str = "app",
        dataset: str | None = None,
        schema: str | None = None,
        cursor: str | Sequence[str] | None = CURSOR_CANDIDATES,
        primary_keys: Mapping[str, str | Sequence[str]] | None = None,
        table_options: Mapping[str, Mapping[str, Any]] | None = None,
        exclude: Iterable[str] = (),
        backend: str = "pyarrow",
        delete_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        #: apply the source's hard deletes after each load (key comparison, see sql_deletes.py)
        self.delete_missing = delete_missing
        self._source_url, self._source_schema = url_of(database), schema
        #: rows deleted by the last run because their key is gone from the source
        self.last_deleted: dict[str, int] = {}
        if tables is not None and not tables:
            raise ConfigError("A SQL database step needs at least one table name (or none).")
        self.database = database
        self.source_schema = schema
        self.source_tables = tuple(tables) if tables is not None else None
        self.exclude = tuple(exclude)
        self._source_kwargs: dict[str, Any] = {
            "schema": schema,
            "cursor": cursor,
            "primary_keys": dict(primary_keys or {}),
            "table_options": check_options(table_options),
            "exclude": self.exclude,
            "backend": backend,
        }
        self._names: dict[str, str] | None = None  # source table -> warehouse table
        self.last_plans: tuple[TablePlan, ...] = ()
        self.last_build = SourceBuild()
        #: tables read in full because the source's xmin wrapped around (see _wrapped_xmin)
        self.wrapped: list[str] = []
        self._keep_types = False
        #: primary keys the last run could not declare on a Postgres warehouse
        self.key_lines: list[str] = []
        #: what a window run (a backfill) read, one line per table
        self.window_lines: list[str] = []
        self._announced: set[str] = set()
        super().__init__(name, self._make_source, dataset=dataset, **kwargs)
        # the app database's password must never reach an error message either
        if isinstance(database, PostgresWarehouse):
            self.secrets += (database.password.get_secret_value(),)
            self.source_hint = database.redacted_url()
        else:
            from urllib.parse import unquote, urlsplit

            password = urlsplit(database).password
            if password:
                self.secrets += (password, unquote(password))
            self.source_hint = self._mask(database)

    # --- the manifest: the explicit list touches nothing; else the source, once ---------------

    def source_table_names(self, strict: bool = False) -> dict[str, str]:
        """source table -> warehouse table name (cached per step object). A source that cannot
        be read gives no table (``strict``: raises), so the manifest still builds and the run
        that follows fails, recorded in the ledger, with the source's reason."""
        if self._names is None:
            found = self.source_tables
            if found is None:
                found = _relations(self._source_url, self.source_schema, self.exclude)
            if found is None:
                try:
                    found = tuple(
                        self._reflect(lambda e: list_tables(e, self.source_schema, self.exclude))
                    )
                except StepFailed:
                    if strict:
                        raise
                    return {}
            # dlt's naming only for names it would change: importing dlt costs a no-op run ~1 s
            names = {t: fast_identifier(t) for t in found}
            if not all(names.values()):
                from dlt.common.normalizers.naming.snake_case import NamingConvention

                naming = NamingConvention()
                names = {t: naming.normalize_table_identifier(t) for t in found}
            self._names = {t: str(w) for t, w in names.items()}
        return self._names

    def table_resources(self) -> dict[TableRef, str]:
        return {TableRef(self.dataset, w): s for s, w in self.source_table_names().items()}

    # --- a run ----------------------------------------------------------------------------------

    def _make_source(self) -> Any:
        build = SourceBuild()
        source = self._reflect(
            lambda _e: sql_source(
                self.database,
                list(self.source_table_names(strict=True)),
                stored=self._bound_schema,
                keep_types=self._keep_types,
                build=build,
                **self._source_kwargs,
            )
        )
        self.last_plans, self.last_build = tuple(build.plans), build
        if source is None:
            raise StepFailed(self.name, self._skipped_sentence(build.skipped))
        return source

    def dlt_pipeline(self, warehouse: Warehouse, report: Reporter = silent) -> Any:
        # a Postgres warehouse keeps the source's Postgres types in the tables it creates
        self._keep_types = isinstance(warehouse, PostgresWarehouse)
        return super().dlt_pipeline(warehouse, report)

    def _skipped_sentence(self, skipped: Mapping[str, str]) -> str:
        why = "; ".join(f"{t}: {reason}" for t, reason in sorted(skipped.items()))
        return f"cannot read {len(skipped)} source relation(s) ({self.source_hint}): {why}"

    def _reflect(self, read: Any) -> Any:
        import sqlalchemy as sa

        engine = sa.create_engine(url_of(self.database))
        try:
            return read(engine)
        except (StacksError, sa.exc.NoSuchTableError) as exc:
            if isinstance(exc, StacksError):
                raise
            raise ConfigError(
                f"Step {self.name!r}: table {exc.args[0]!r} does not exist in the source "
                f"database ({self.source_hint})."
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StepFailed(
                self.name,
                self._mask(
                    f"reading the source database failed (source {self.source_hint}): "
                    f"{first[0] if first else type(exc).__name__}"
                ),
            ) from None
        finally:
            engine.dispose()

    def dlt_source(self, request: RunRequest, pipeline: Any = None) -> Any:
        """:meth:`DltStep.dlt_source`; a table with new source columns also forgets its cursor,
        so this run reads every row and the cursor restarts from what it read. With
        ``request.window``: the window's rows of the chosen tables (see :mod:`.sql_window`)."""
        source = super().dlt_source(request, pipeline)
        if request.window is not None:
            from stacks_el_dlt.sources.sql_window import read_window

            self.window_lines = read_window(self, source, request)
            return source
        if self.schema_contract == "freeze":
            self._refuse_new_columns(source, request)
        evolve = self.schema_contract == "evolve"
        reload = [p.table for p in self.last_plans if p.new_columns and p.cursor and evolve]
        self.wrapped = self._wrapped_xmin(source, pipeline)
        reload += self.wrapped
        if reload and pipeline is not None:
            with pipeline.managed_state() as state:
                resources = state.get("sources", {}).get(source.name, {}).get("resources", {})
                for table in reload:
                    resources.get(table, {}).pop("incremental", None)
        return source

    def _refuse_new_columns(self, source: Any, request: RunRequest) -> None:
        """schema_contract='freeze': a table whose source gained columns is not read; it fails
        alone, naming them (dlt's freeze would fail the whole extract)."""
        refused = dict(self._per_run(self._refused, request.run_id, None) or {})
        for plan in self.last_plans:
            if plan.new_columns and plan.table in source.resources:
                why = f"new source column(s) {', '.join(plan.new_columns)}"
                if plan.table in refused:
                    why = f"{why}; {refused[plan.table]}"
                else:
                    why += "; schema_contract='freeze' keeps the warehouse's schema"
                refused[plan.table] = why
                source.resources[plan.table].selected = False
        self._per_run(self._refused, request.run_id, refused or None)

    def _wrapped_xmin(self, source: Any, pipeline: Any) -> list[str]:
        """Tables read by xmin whose cursor is from another transaction id epoch: the 32-bit
        xmin wrapped around since, so every row is read again (Airbyte's Postgres source too)."""
        now = self.last_build.snapshot_xmin
        if now is None or pipeline is None:
            return []
        resources = pipeline.state.get("sources", {}).get(source.name, {}).get("resources", {})
        out = []
        for plan in self.last_plans:
            last = resources.get(plan.table, {}).get("incremental", {}).get(XMIN, {})
            value = last.get("last_value") if isinstance(last, dict) else None
            if plan.cursor == XMIN and value is not None and int(value) >> 32 != now >> 32:
                out.append(plan.table)
        return out

    def finalize(self, pipeline: Any, request: RunRequest) -> None:
        self.last_deleted = {}
        self.key_lines = []
        if request.window is not None:
            return  # a backfill re-delivers rows; deletes and keys are the next run's business
        if self._keep_types:
            from stacks_el_dlt.sources.sql_keys import declare_primary_keys

            merged = [
                (p.table, p.primary_key) for p in self.last_plans if p.write_disposition == "merge"
            ]
            self.key_lines = declare_primary_keys(pipeline, merged)
        if self.delete_missing:
            from stacks_el_dlt.sources.sql_deletes import delete_missing_rows

            self.last_deleted = delete_missing_rows(pipeline, self._source_url, self._source_schema)
        record_run(self, pipeline)

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        self.window_lines = []
        skipped_run = skip_if_unchanged(self, request, warehouse)
        if skipped_run is not None:
            self.last_traces, self.last_deleted, self.key_lines = (), {}, []
            report(self.name, "nothing new in the source since the last load (dlt not started)")
            return skipped_run
        failed: TablesFailed | None = None
        try:
            result = super().run(request, warehouse, report)
        except TablesFailed as exc:  # tables whose load failed: the others loaded
            failed, result = exc, exc.result
        for line in self.plan_lines() + self.key_lines + self.window_lines:
            report(self.name, line)
        skipped = self.last_build.skipped
        for table, why in sorted(skipped.items()):
            report(self.name, f"skipped {table}: {why}")
        listed = {t: why for t, why in skipped.items() if t in (self.source_tables or ())}
        if listed or failed is not None:
            parts = [failed.detail] if failed is not None else []
            parts += [self._skipped_sentence(listed)] if listed else []
            tables = {**(failed.tables if failed is not None else {}), **listed}
            raise TablesFailed(self.name, "; and ".join(parts), result, tables)
        for table, n in self.last_deleted.items():
            report(self.name, f"deleted {n} rows from {table} whose key is gone from the source")
        return result

    def plan_lines(self) -> list[str]:
        """What the last run chose, one line per table: each table once per step object (its
        first run), again whenever its new source columns made it reload in full."""
        lines = []
        fate = {
            "evolve": "every row read again",
            "freeze": "the table is not loaded (schema_contract='freeze')",
            "discard_value": "not loaded (schema_contract='discard_value')",
        }[self.schema_contract]
        for plan in self.last_plans:
            if plan.new_columns:
                lines.append(
                    f"{plan.kind} {plan.table}: new source column(s) "
                    f"{', '.join(plan.new_columns)}: {fate}"
                )
            elif plan.table in self.wrapped:
                lines.append(
                    f"{plan.kind} {plan.table}: the source's transaction ids wrapped around "
                    "since the last read: every row read again"
                )
            elif plan.table not in self._announced:
                lines.append(plan.describe())
            self._announced.add(plan.table)
        for line in lines:
            log.info("step %s: %s", self.name, line)
        return lines
