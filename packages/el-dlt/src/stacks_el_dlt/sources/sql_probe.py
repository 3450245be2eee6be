"""A ``SqlDatabaseStep`` run with nothing to load, told apart before dlt is imported.

dlt spends a no-op run on its import, its configuration, reflecting the source with SQLAlchemy,
restoring state from the warehouse and extracting nothing: seconds per run. A sling-like tool
asks the source one question per table. This module asks the same questions, with psycopg, and
the step skips dlt when every answer is "nothing new".

After each successful run the step writes a *record* beside dlt's working folder: the step's
configuration, the source relations and their columns, each table's cursor value from dlt's
state and the state's version hash. The next run (not a full refresh, not a backfill window, no
``delete_missing``) skips dlt when all of these hold:

* the record exists and was written for the same configuration;
* every table loads by ``merge`` with a non-nullable cursor column (a replaced table or a view is
  a snapshot every run reads; a table read by xmin has no cursor SQL can compare);
* the source lists the same relations, with the same columns and types;
* no source row has a cursor value after the recorded one (what dlt's incremental would read);
* the warehouse still holds every table the step loaded, and its newest dlt state row is the
  one the record was written after (no other run loaded since; a dropped dataset fails this).

Anything else, or any error while asking, runs dlt as usual; that run rewrites the record.
Postgres sources only; other databases always run dlt.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stacks_contract.warehouse import PostgresWarehouse, Warehouse, parse_warehouse

from stacks_el_dlt.names import XMIN

__all__ = ["RECORD_SUFFIX", "Probe", "fast_identifier", "postgres_relations"]

#: the record's file name beside dlt's working folder: ``<pipeline_name><suffix>``
RECORD_SUFFIX = ".stacks-probe.json"

_RELATIONS = (
    "select c.relname, c.relkind from pg_catalog.pg_class c "
    "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
    "where n.nspname = coalesce(?, current_schema()) "
    "and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition order by 1"
)
_COLUMNS = (
    "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
    "from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid "
    "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
    "where n.nspname = coalesce(?, current_schema()) and a.attnum > 0 and not a.attisdropped "
    "order by c.relname, a.attnum"
)
_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}
#: names dlt's snake_case convention leaves as they are
_SIMPLE = re.compile(r"^[a-z_][a-z0-9_]*[a-z0-9]$")


def fast_identifier(name: str) -> str | None:
    """``name`` as dlt's snake_case names a table, when that needs no dlt (else ``None``)."""
    return name if _SIMPLE.match(name) and "__" not in name and len(name) < 64 else None


def postgres_relations(url: str, schema: str | None) -> dict[str, str] | None:
    """name -> kind of the source schema's relations (the catalog query of
    :func:`~stacks_el_dlt.sources.sql_tables.list_tables`, without SQLAlchemy); ``None`` for a
    source that is not Postgres."""
    source = _postgres(url)
    if source is None:
        return None
    from stacks_core.sql import connect

    with connect(source) as conn:
        return {r[0]: _KINDS[r[1]] for r in conn.execute(_RELATIONS, [schema])}


def _postgres(url: str) -> PostgresWarehouse | None:
    if not url.startswith(("postgresql://", "postgres://")):
        return None
    wh = parse_warehouse(url)
    return wh if isinstance(wh, PostgresWarehouse) else None


class Probe:
    """The record of one step in one warehouse, and the questions it lets a run ask."""

    def __init__(self, workdir: Path, pipeline_name: str, config: Mapping[str, Any]) -> None:
        self.path = workdir / f"{pipeline_name}{RECORD_SUFFIX}"
        self.pipeline_name = pipeline_name
        blob = json.dumps(config, sort_keys=True, default=repr).encode()
        self.digest = hashlib.sha256(blob).hexdigest()

    # --- after a successful run ----------------------------------------------------------------

    def write(
        self,
        source_url: str,
        schema: str | None,
        plans: Iterable[Any],
        cursors: Mapping[str, Any],
        targets: Sequence[str],
        state_version: str | None,
        whole_schema: bool,
    ) -> None:
        """Record what this run saw (``plans``: the tables' :class:`TablePlan`; with
        ``whole_schema`` the source's relations too: a new one must be loaded)."""
        tables: dict[str, Any] = {}
        for plan in plans:
            # a cursor the source compares (not xmin: an xid has no order in SQL)
            ok = plan.write_disposition == "merge" and plan.cursor not in (None, XMIN)
            ok = ok and not plan.cursor_nullable
            if not ok or plan.table not in cursors or state_version is None:
                self.forget()
                return
            tables[plan.table] = {"cursor": plan.cursor, "last_value": str(cursors[plan.table])}
        if not tables or _postgres(source_url) is None:
            self.forget()
            return
        try:
            columns = _columns(source_url, schema, tables)
            relations = (
                sorted(postgres_relations(source_url, schema) or ()) if whole_schema else None
            )
        except Exception:
            self.forget()
            return
        record = {
            "config": self.digest,
            "relations": relations,
            "tables": {t: {**v, "columns": columns.get(t)} for t, v in tables.items()},
            "targets": sorted(targets),
            "state_version": state_version,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, sort_keys=True))
        tmp.replace(self.path)

    def forget(self) -> None:
        """No record: the next run runs dlt (a run about to change the warehouse calls this
        first, so a run killed half-way never leaves one behind)."""
        self.path.unlink(missing_ok=True)

    # --- before a run --------------------------------------------------------------------------

    def nothing_new(
        self, source_url: str, schema: str | None, warehouse: Warehouse, dataset: str
    ) -> dict[str, str] | None:
        """The recorded cursors (table -> last value) when a run would load nothing, else
        ``None`` (see the module docstring for what is checked)."""
        try:
            record = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if record.get("config") != self.digest or not record.get("tables"):
            return None
        try:
            return self._unchanged(record, source_url, schema, warehouse, dataset)
        except Exception:
            return None  # a question that fails is not an answer: dlt decides

    def _unchanged(
        self,
        record: dict[str, Any],
        source_url: str,
        schema: str | None,
        warehouse: Warehouse,
        dataset: str,
    ) -> dict[str, str] | None:
        from stacks_core.sql import connect, qualified, quote_ident

        tables: dict[str, Any] = record["tables"]
        source = _postgres(source_url)
        if source is None:
            return None
        with connect(source) as conn:
            if record["relations"] is not None:
                listed = [r[0] for r in conn.execute(_RELATIONS, [schema])]
                if sorted(listed) != record["relations"]:
                    return None
            if _columns_of(conn, schema, tables) != {t: v["columns"] for t, v in tables.items()}:
                return None
            for table, seen in tables.items():
                kind = next(c[1] for c in seen["columns"] if c[0] == seen["cursor"])
                where = f"{qualified(schema, table) if schema else quote_ident(table)}"
                newer = conn.execute(
                    f"select exists (select 1 from {where} "
                    f"where {quote_ident(seen['cursor'])} > cast(? as {kind}))",
                    [seen["last_value"]],
                )
                if newer[0][0]:
                    return None
        with connect(warehouse, read_only=True) as conn:
            have = {name for _schema, name in conn.tables(dataset)}
            if not set(record["targets"]) <= have or "_dlt_pipeline_state" not in have:
                return None
            latest = conn.execute(
                f"select version_hash from {qualified(dataset, '_dlt_pipeline_state')} "
                "where pipeline_name = ? order by created_at desc limit 1",
                [self.pipeline_name],
            )
            if not latest or latest[0][0] != record["state_version"]:
                return None
        return {t: v["last_value"] for t, v in tables.items()}


def _columns(url: str, schema: str | None, tables: Iterable[str]) -> dict[str, Any]:
    from stacks_core.sql import connect

    source = _postgres(url)
    assert source is not None
    with connect(source) as conn:
        return _columns_of(conn, schema, tables)


def _columns_of(conn: Any, schema: str | None, tables: Iterable[str]) -> dict[str, Any]:
    wanted = set(tables)
    out: dict[str, list[list[Any]]] = {}
    for rel, name, kind, notnull in conn.execute(_COLUMNS, [schema]):
        if rel in wanted:
            out.setdefault(rel, []).append([name, kind, bool(notnull)])
    return out


# --- the step's side: what SqlDatabaseStep calls ---------------------------------------------


def _probe(step: Any, workdir: Path) -> Probe:
    config = {
        "tables": step.source_tables,
        "exclude": step.exclude,
        "source": step._source_kwargs,
        "dataset": step.dataset,
        "pipeline": step.pipeline_name,
        "format": step.file_format,
        "quarantine": step.quarantine_rows,
        "arrow": step.arrow_batches,
    }
    return Probe(workdir, step.pipeline_name, config)


def skip_if_unchanged(step: Any, request: Any, warehouse: Warehouse) -> Any:
    """The :class:`LoadResult` of a run that loads nothing, without dlt, when the source has
    nothing new (see the module docstring); else ``None``, after forgetting the record (the run
    about to start rewrites it when it succeeds)."""
    from stacks_contract.models import LoadResult, utcnow
    from stacks_core.state import use_state_dir

    from stacks_el_dlt.working import STATE_FOLDERS

    started = utcnow()
    workdir = step._workdir(warehouse)
    probe = _probe(step, workdir)
    window = getattr(request, "window", None)
    if request.full_refresh or window is not None or step.delete_missing or not probe.path.exists():
        probe.forget()
        return None
    dataset = warehouse.schema_name if step._dataset_from_warehouse else step.dataset
    cursors = probe.nothing_new(step._source_url, step._source_schema, warehouse, dataset)
    if cursors is None:
        probe.forget()
        return None
    use_state_dir(workdir, prune=STATE_FOLDERS)  # in use, as a dlt run would mark it
    return LoadResult(
        step=step.name,
        run_id=request.run_id,
        cursor=cursors,
        started_at=started,
        finished_at=utcnow(),
    )


def record_run(step: Any, pipeline: Any) -> None:
    """After a successful run: the record the next run's :func:`skip_if_unchanged` reads."""
    from stacks_el_dlt.working import cursors

    probe = _probe(step, Path(pipeline.pipelines_dir))
    if step.last_build.skipped:
        probe.forget()  # an unreadable relation is tried again (and reported) every run
        return
    try:
        version = pipeline.state.get("_version_hash")
    except Exception:
        version = None
    probe.write(
        step._source_url,
        step._source_schema,
        step.last_plans,
        cursors(pipeline),
        list(step.source_table_names().values()),
        version,
        whole_schema=step.source_tables is None,
    )
