"""Every row checked: a relation's row count and an order-independent checksum of its content,
computed the same way on the source (Postgres) and on the copy (Postgres or DuckDB), so a fast
wrong answer cannot win.

The checksum sums the first 64 bits of ``md5`` of each row's canonical text (signed, exactly, in
the engine). The canonical text follows the *source* column's type, and casts the copy's column
to it, because tools pick different target types for the same data (jsonb as jsonb, json or
text; numeric as numeric or double; timestamptz with or without time zone): a value is right
when it means the same (a JSON object's keys in any order). Columns are matched by name; tool
columns (``_dlt_*``, ``_stacks_*``, ...) are ignored. A column the copy lacks is a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: source data type (Postgres ``format_type`` prefix) -> kind of canonical text
_KINDS = (
    ("bigint", "int"),
    ("integer", "int"),
    ("smallint", "int"),
    ("numeric", "numeric"),
    ("boolean", "bool"),
    ("date", "date"),
    ("timestamp", "ts"),
    ("jsonb", "json"),
    ("json", "json"),
)


def _kind(source_type: str) -> tuple[str, int]:
    for prefix, kind in _KINDS:
        if source_type.startswith(prefix):
            scale = 0
            if kind == "numeric" and "," in source_type:
                scale = int(source_type.split(",")[1].rstrip(")"))
            return kind, scale
    return "text", 0


def _pg_expr(col: str, kind: str, scale: int) -> str:
    c = f'"{col}"'
    expr = {
        "int": f"({c})::numeric::bigint::text",
        "numeric": f"round(({c})::numeric, {scale})::text",
        "bool": f"case when ({c})::text in ('t', 'true', '1') then 't' else 'f' end",
        "date": f"({c})::date::text",
        "ts": f"(extract(epoch from ({c})::timestamptz) * 1000000)::bigint::text",
        # key:value pairs in key order: the same document whatever order a tool wrote keys in
        "json": (
            "(select string_agg(key || ':' || value::text, ',' order by key collate \"C\") "
            f"from jsonb_each(({c})::text::jsonb))"
        ),
        "text": f"({c})::text",
    }[kind]
    return f"coalesce({expr}, '<null>')"


def _duck_expr(col: str, kind: str, scale: int, target_type: str) -> str:
    c = f'"{col}"'
    ts = f"cast({c} as timestamptz)" if target_type == "VARCHAR" else c
    expr = {
        "int": f"cast(cast({c} as bigint) as varchar)",
        "numeric": f"cast(cast({c} as decimal(38, {scale})) as varchar)",
        "bool": f"case when cast({c} as boolean) then 't' else 'f' end",
        "date": f"cast(cast({c} as date) as varchar)",
        "ts": f"cast(epoch_us({ts}) as varchar)",
        "json": (
            f"array_to_string(list_transform(list_sort(json_keys({c}::json)), lambda k: k || ':' "
            f"|| cast(json_extract({c}::json, '$.\"' || k || '\"') as varchar)), ',')"
        ),
        "text": f"cast({c} as varchar)",
    }[kind]
    return f"coalesce({expr}, '<null>')"


_PG_SUM = (
    "select count(*), coalesce(sum(('x' || substr(md5(r), 1, 16))::bit(64)::bigint::numeric), 0)"
    " from (select concat_ws('|', {cols}) as r from {rel}) s"
)
_DUCK_SUM = (
    "select count(*), coalesce(sum(case when u >= 9223372036854775808 "
    "then u::hugeint - 18446744073709551616 else u::hugeint end), 0) from "
    "(select ('0x' || substr(md5(concat_ws('|', {cols})), 1, 16))::ubigint as u from {rel}) s"
)


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    checksum: int
    missing_columns: tuple[str, ...] = ()

    def matches(self, other: Fingerprint) -> bool:
        return (self.rows, self.checksum, self.missing_columns) == (
            other.rows,
            other.checksum,
            other.missing_columns,
        )


def source_columns(conn: Any, relation: str, schema: str = "public") -> list[tuple[str, str]]:
    """(name, Postgres type) of a source relation's columns, in order."""
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum",
        (schema, relation),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def pg_fingerprint(
    conn: Any, schema: str, relation: str, columns: list[tuple[str, str]]
) -> Fingerprint:
    """Of a Postgres relation (the source, or a Postgres copy), over ``columns`` of the source."""
    have = {r[0] for r in source_columns(conn, relation, schema)}
    missing = tuple(name for name, _ in columns if name not in have)
    exprs = [_pg_expr(name, *_kind(t)) for name, t in columns if name in have]
    conn.execute("set timezone = 'UTC'")
    rel = f'"{schema}"."{relation}"'
    rows, checksum = conn.execute(_PG_SUM.format(cols=", ".join(exprs), rel=rel)).fetchone()
    return Fingerprint(int(rows), int(checksum), missing)


def duckdb_fingerprint(
    con: Any, schema: str, relation: str, columns: list[tuple[str, str]]
) -> Fingerprint:
    """Of a DuckDB copy, over ``columns`` of the Postgres source."""
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, relation],
        ).fetchall()
    )
    missing = tuple(name for name, _ in columns if name not in types)
    exprs = [_duck_expr(n, *_kind(t), types[n]) for n, t in columns if n in types]
    rel = f'"{schema}"."{relation}"'
    rows, checksum = con.execute(_DUCK_SUM.format(cols=", ".join(exprs), rel=rel)).fetchall()[0]
    return Fingerprint(int(rows), int(checksum), missing)
