"""Warehouse fingerprints: an order-independent content hash per table.

Equal data gives an equal fingerprint; one changed value, one duplicated row or one missing row
gives a different one. Load metadata is ignored, and what counts as metadata is declared, not
guessed: the contract's own ``_stacks_*`` columns and tables (run ids, load times, the ledger,
quarantine), plus whatever the stack's implementations declare in their ``metadata_columns``
(:meth:`StackSpec.metadata_columns`): ``fnmatch`` patterns such as ``_dlt_*`` that apply to
column names and, for a whole-warehouse fingerprint, to table names (a tool's bookkeeping
tables). A business column named ``dbt_x`` counts unless something declares it.

The hash is computed inside the database: ``md5`` of each row's text form, sorted, concatenated and
hashed again, so duplicates count and order does not. Digests are comparable within one engine
(Postgres and DuckDB render values differently); row counts are comparable everywhere.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from stacks_contract.models import TableRef
from stacks_contract.warehouse import Warehouse

from stacks_core.sql import Connection, connect, qualified, quote_ident

#: the contract's own metadata: run-id / load-time columns, ledger and quarantine tables
CONTRACT_METADATA: tuple[str, ...] = ("_stacks_*",)
#: schemas that hold only bookkeeping
METADATA_SCHEMAS = frozenset({"stacks_meta"})


class TableFingerprint(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: int
    digest: str
    columns: tuple[str, ...]


Fingerprint = dict[str, TableFingerprint]  # "schema.table" -> fingerprint


def is_metadata(name: str, metadata: Iterable[str] = ()) -> bool:
    """``name`` (a column or table) matches the contract's or one of the declared patterns."""
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in (*CONTRACT_METADATA, *metadata))


def table_fingerprint(
    conn: Connection, schema: str, table: str, metadata: Iterable[str] = ()
) -> TableFingerprint:
    patterns = tuple(metadata)
    cols = sorted(c for c in conn.columns(schema, table) if not is_metadata(c, patterns))
    src = qualified(schema, table)
    if not cols:  # nothing but metadata: only the row count means anything
        n = conn.count(schema, table)
        return TableFingerprint(rows=n, digest=f"rows:{n}", columns=())
    if conn.dialect == "postgres":
        row = "row(" + ", ".join(quote_ident(c) for c in cols) + ")::text"
    else:
        # a struct's text form names its fields, so renamed columns change the digest too
        keys = [c.replace("'", "''") for c in cols]  # struct keys are string literals
        row = (
            "cast({"
            + ", ".join(f"'{k}': {quote_ident(c)}" for k, c in zip(keys, cols, strict=True))
            + "} as varchar)"
        )
    sql = (
        f"select count(*), md5(coalesce(string_agg(h, '' order by h), '')) "
        f"from (select md5({row}) as h from {src}) as s"
    )
    n, digest = conn.execute(sql)[0]
    return TableFingerprint(rows=int(n), digest=str(digest), columns=tuple(cols))


def fingerprint(
    warehouse: Warehouse,
    tables: Iterable[TableRef] | None = None,
    *,
    schemas: Iterable[str] | None = None,
    metadata: Iterable[str] = (),
) -> Fingerprint:
    """Fingerprint the given tables, or every non-metadata table (in ``schemas`` if given).

    ``metadata``: the patterns the implementations declare (``StackSpec.metadata_columns()``,
    ``ELStep.metadata_columns``); the contract's ``_stacks_*`` always applies."""
    patterns = tuple(metadata)
    with connect(warehouse) as conn:
        if tables is None:
            wanted = set(schemas) if schemas is not None else None
            refs = [
                TableRef(schema=s, name=t)
                for s, t in conn.tables()
                if not is_metadata(t, patterns)
                and (wanted is None or s in wanted)
                and s not in METADATA_SCHEMAS
            ]
        else:
            refs = list(tables)
        return {r.key: table_fingerprint(conn, r.schema_name, r.name, patterns) for r in refs}


def portable_fingerprint(
    warehouse: Warehouse, tables: Iterable[TableRef], *, metadata: Iterable[str] = ()
) -> Fingerprint:
    """As :func:`fingerprint`, comparable across engines: rows are read into Python and every
    value rendered canonically (decimals without trailing zeros, timestamps in UTC ISO-8601,
    JSON with sorted keys) before hashing. Reads every row: meant for models and test data,
    not for large raw tables."""
    import hashlib

    patterns = tuple(metadata)
    out: Fingerprint = {}
    with connect(warehouse) as conn:
        for ref in tables:
            cols = sorted(
                c for c in conn.columns(ref.schema_name, ref.name) if not is_metadata(c, patterns)
            )
            names = ", ".join(quote_ident(c) for c in cols) or "1"
            rows = conn.execute(f"select {names} from {qualified(ref.schema_name, ref.name)}")
            types = dict(
                conn.execute(
                    "select column_name, lower(data_type) from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [ref.schema_name, ref.name],
                )
            )
            # DuckDB hands JSON over as its text, psycopg as parsed values
            json_cols = [i for i, c in enumerate(cols) if types.get(c) in ("json", "jsonb")]
            hashes = sorted(
                hashlib.md5(
                    "\x1f".join(map(_canonical, _parsed(row, json_cols))).encode()
                ).hexdigest()
                for row in rows
            )
            digest = hashlib.md5("".join(hashes).encode()).hexdigest()
            out[ref.key] = TableFingerprint(rows=len(hashes), digest=digest, columns=tuple(cols))
    return out


def _parsed(row: tuple[Any, ...], json_cols: list[int]) -> tuple[Any, ...]:
    if not json_cols:
        return row
    import json

    values = list(row)
    for i in json_cols:
        if isinstance(values[i], str):
            values[i] = json.loads(values[i])
    return tuple(values)


def _canonical(v: Any) -> str:
    import datetime as dt
    import json
    from decimal import Decimal

    if v is None:
        return "\x00"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        text = format(v.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(v, float):
        return format(Decimal(repr(v)).normalize(), "f")
    if isinstance(v, dt.datetime):
        return (v.astimezone(dt.UTC) if v.tzinfo else v).isoformat()
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


def diff(
    before: Mapping[str, TableFingerprint], after: Mapping[str, TableFingerprint]
) -> list[str]:
    """One line per table that differs; empty when the fingerprints are equal."""
    lines = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None:
            lines.append(f"{key}: new table ({b.rows} rows)")  # type: ignore[union-attr]
        elif b is None:
            lines.append(f"{key}: table disappeared (had {a.rows} rows)")
        elif a.columns != b.columns:
            lines.append(f"{key}: columns changed {list(a.columns)} -> {list(b.columns)}")
        elif a.rows != b.rows:
            lines.append(f"{key}: {a.rows} rows -> {b.rows} rows")
        elif a.digest != b.digest:
            lines.append(f"{key}: same {a.rows} rows, different content")
    return lines


def row_diff(
    a: Warehouse,
    b: Warehouse,
    table: TableRef,
    metadata: Iterable[str] = (),
    *,
    limit: int = 3,
    labels: tuple[str, str] = ("warehouse", "rebuild"),
) -> list[str]:
    """A few rows of ``table`` found in one warehouse and not the other (metadata columns left
    out), for a readable diff: ``- only in <a>: col=value, ...`` / ``+ only in <b>: ...``.
    Empty when the columns differ (the table-level line says so already)."""
    from collections import Counter

    patterns = tuple(metadata)
    sides: list[Counter[tuple[Any, ...]]] = []
    columns: list[list[str]] = []
    for wh in (a, b):
        with connect(wh) as conn:
            cols = sorted(
                c
                for c in conn.columns(table.schema_name, table.name)
                if not is_metadata(c, patterns)
            )
            columns.append(cols)
            if not cols:
                return []
            names = ", ".join(quote_ident(c) for c in cols)
            rows = conn.execute(f"select {names} from {qualified(table.schema_name, table.name)}")
            sides.append(Counter(tuple(r) for r in rows))
    if columns[0] != columns[1]:
        return []
    cols = columns[0]
    lines: list[str] = []
    for sign, label, mine, theirs in (
        ("-", labels[0], sides[0], sides[1]),
        ("+", labels[1], sides[1], sides[0]),
    ):
        only = sorted((mine - theirs).elements(), key=repr)
        for row in only[:limit]:
            shown = ", ".join(f"{c}={_value(v)}" for c, v in zip(cols, row, strict=True))
            lines.append(f"{sign} only in the {label}: {shown}")
        if len(only) > limit:
            lines.append(f"{sign} ... and {len(only) - limit} more row(s) only in the {label}")
    return lines


def _value(v: Any) -> str:
    return repr(v) if isinstance(v, str) else "null" if v is None else str(v)
