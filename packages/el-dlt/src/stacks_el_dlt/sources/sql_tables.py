"""Which tables a SQL step replicates, and how each one loads (its idempotent default).

* **Which**: the tables given, else every table, view and materialized view of the source schema
  (Postgres: ``pg_class`` relkinds ``r``, ``p``, ``v``, ``m``); a partitioned table loads once
  through its parent, never per partition; names matching an ``exclude`` pattern are left out.
* **How** (:func:`plan_table`), per table, overridable with ``table_options``:
  a primary key (reflected or declared) -> ``merge`` on it, incremental on a cursor column (the
  first of the candidates the table has, or the declared one), else a full scan merged;
  no key (keyless table, view, materialized view) -> ``replace``: a fresh snapshot every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from stacks_contract.errors import ConfigError

from stacks_el_dlt.names import XMIN
from stacks_el_dlt.sources.sql_types import cursor_capable

#: cursor columns tried in this order when a table declares none: names, then ``fnmatch``
#: patterns (a table's first column matching the first pattern it matches)
CURSOR_CANDIDATES: tuple[str, ...] = (
    "updated_at",
    "modified_at",
    "last_modified",
    "last_modified_at",
    "last_updated",
    "last_updated_at",
    "last_update",
    "updated",
    "modified",
    "changed_at",
    "last_changed",
    "date_modified",
    "modified_date",
    "updated_on",
    "modified_on",
    "*_updated_at",
    "*_modified_at",
)

#: the keys ``table_options`` accepts per table
OPTION_KEYS = frozenset({"primary_key", "cursor", "write_disposition"})
WRITE_DISPOSITIONS = ("merge", "replace", "append")

_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}


def check_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for table, opts in (options or {}).items():
        unknown = set(opts) - OPTION_KEYS
        if unknown:
            raise ConfigError(
                f"table_options[{table!r}]: unknown option(s) {sorted(unknown)}; "
                f"known: {sorted(OPTION_KEYS)}."
            )
        wd = opts.get("write_disposition")
        if wd is not None and wd not in WRITE_DISPOSITIONS:
            raise ConfigError(
                f"table_options[{table!r}]: write_disposition must be one of "
                f"{', '.join(WRITE_DISPOSITIONS)}, not {wd!r}."
            )
        out[table] = dict(opts)
    return out


def list_tables(engine: Any, schema: str | None, exclude: Iterable[str] = ()) -> dict[str, str]:
    """name -> kind of every replicated relation of ``schema`` (default: the current schema)."""
    import sqlalchemy as sa

    patterns = tuple(exclude)
    if engine.dialect.name == "postgresql":
        query = sa.text(
            "select c.relname, c.relkind from pg_catalog.pg_class c "
            "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = coalesce(:schema, current_schema()) "
            "and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition order by 1"
        )
        with engine.connect() as conn:
            rows = [(r[0], _KINDS[r[1]]) for r in conn.execute(query, {"schema": schema})]
    else:
        inspector = sa.inspect(engine)
        rows = [(t, "table") for t in inspector.get_table_names(schema)]
        rows += [(v, "view") for v in inspector.get_view_names(schema)]
    unused = [p for p in patterns if not any(fnmatchcase(name, p) for name, _ in rows)]
    if unused:
        raise ConfigError(
            f"exclude pattern(s) {', '.join(map(repr, unused))} match no relation of the source "
            f"schema {schema or 'public'!r} (it has: {', '.join(n for n, _ in rows) or 'none'})."
        )
    kept = {
        name: kind for name, kind in sorted(rows) if not any(fnmatchcase(name, p) for p in patterns)
    }
    if rows and not kept:
        raise ConfigError(
            f"exclude={list(patterns)} leaves no relation of the source schema "
            f"{schema or 'public'!r} to replicate."
        )
    return kept


@dataclass(frozen=True)
class TablePlan:
    """How one source table loads in this run."""

    table: str
    kind: str
    write_disposition: str
    primary_key: tuple[str, ...]
    cursor: str | None
    cursor_nullable: bool = False
    #: what the cursor holds: "timestamptz", "timestamp", "date" or "number" (windows need it)
    cursor_kind: str = ""
    #: source columns the warehouse table lacks: the run forgets the cursor, reads every row
    new_columns: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line saying what was chosen for the table."""
        head = f"{self.kind} {self.table}: "
        if self.write_disposition == "replace":
            why = "no primary key" if not self.primary_key else "declared"
            return head + f"replace (a full snapshot every run; {why})"
        key = ", ".join(self.primary_key)
        text = head + (f"merge on ({key})" if key else self.write_disposition)
        if self.cursor is None:
            return text + ", full scan every run (no cursor column)"
        if self.cursor == XMIN:
            return text + ", incremental on xmin (no cursor column)"
        return text + f", incremental on {self.cursor}"


def plan_table(
    table: Any,
    kind: str,
    options: Mapping[str, Any],
    candidates: Sequence[str],
    stored_columns: Iterable[str] | None,
    normalize: Any,
    *,
    xmin: bool = False,
) -> TablePlan:
    """Choose write disposition, key and cursor for a reflected SQLAlchemy ``table``.

    ``xmin``: a Postgres source, whose keyed tables without a cursor column are read by xmin
    (unless the table's options say ``cursor: None``)."""
    columns = {c.name: c for c in table.columns}
    key = options.get("primary_key")
    if key is None:
        primary_key = tuple(c.name for c in table.primary_key)
    else:
        primary_key = (key,) if isinstance(key, str) else tuple(key)
        missing = [k for k in primary_key if k not in columns]
        if missing:
            raise ConfigError(
                f"Table {table.name!r}: declared primary key column(s) {missing} do not exist "
                f"(columns: {', '.join(columns)})."
            )
    disposition = options.get("write_disposition") or ("merge" if primary_key else "replace")
    if disposition == "merge" and not primary_key:
        raise ConfigError(
            f"Table {table.name!r} has no primary key to merge on: declare one with "
            f"table_options={{{table.name!r}: {{'primary_key': [...]}}}} or let it be replaced."
        )
    cursor: str | None = None
    if disposition != "replace":
        if "cursor" in options:
            cursor = options["cursor"]
            if cursor is not None and cursor not in columns:
                raise ConfigError(
                    f"Table {table.name!r}: the declared cursor column {cursor!r} does not exist "
                    f"(columns: {', '.join(columns)})."
                )
        else:
            cursor = pick_cursor(columns, candidates)
            by_xmin = xmin and candidates and kind in ("table", "partitioned table")
            if cursor is None and by_xmin and disposition == "merge":
                cursor = XMIN
    new: tuple[str, ...] = ()
    if stored_columns is not None and disposition == "merge":
        have = set(stored_columns)
        new = tuple(c for c in columns if normalize(c) not in have)
    return TablePlan(
        cursor_kind=_cursor_kind(columns[cursor].type) if cursor and cursor != XMIN else "",
        table=table.name,
        kind=kind,
        write_disposition=disposition,
        primary_key=primary_key,
        cursor=cursor,
        cursor_nullable=bool(cursor and cursor != XMIN and columns[cursor].nullable),
        new_columns=new,
    )


def pick_cursor(columns: Mapping[str, Any], candidates: Sequence[str]) -> str | None:
    """The first candidate (a name or an ``fnmatch`` pattern) naming an orderable column."""
    for candidate in candidates:
        for name, column in columns.items():
            if fnmatchcase(name, candidate) and cursor_capable(column.type):
                return name
    return None


def _cursor_kind(sql_type: Any) -> str:
    from sqlalchemy import types as sa
    from sqlalchemy.dialects import postgresql as pg

    if isinstance(sql_type, pg.DOMAIN):
        return _cursor_kind(sql_type.data_type)
    if isinstance(sql_type, sa.DateTime):
        return "timestamptz" if sql_type.timezone else "timestamp"
    return "date" if isinstance(sql_type, sa.Date) else "number"
