"""From a stream's JSON schema to typed columns, and from a record to one row of text values.

Airbyte's destinations (Destinations V2) give every top-level property of the stream's schema a
typed column; a value that cannot be cast is written as NULL and recorded in
``_airbyte_meta.changes`` (``NULLED`` / ``DESTINATION_SERIALIZATION_ERROR``) instead of failing
the sync. Rows are produced as text (or None) so both engines cast them in bulk: Postgres through
a text COPY, DuckDB through ``CAST`` in an ``INSERT ... SELECT``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Kind = Literal["integer", "number", "boolean", "timestamp", "timestamp_ntz", "json", "string"]

_POSTGRES: dict[Kind, str] = {
    "integer": "bigint",
    "number": "decimal(38, 9)",
    "boolean": "boolean",
    "timestamp": "timestamp with time zone",
    "timestamp_ntz": "timestamp",
    "json": "jsonb",
    "string": "varchar",
}
_DUCKDB: dict[Kind, str] = {
    "integer": "BIGINT",
    "number": "DECIMAL(38, 9)",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "timestamp_ntz": "TIMESTAMP",
    "json": "JSON",
    "string": "VARCHAR",
}


def sql_type(kind: Kind, dialect: str) -> str:
    return (_POSTGRES if dialect == "postgres" else _DUCKDB)[kind]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    #: for json columns: "object", "array" or "" (any JSON value)
    json_shape: str = ""


def _kind(prop: Mapping[str, Any]) -> tuple[Kind, str]:
    types = prop.get("type", [])
    if isinstance(types, str):
        types = [types]
    types = [t for t in types if t != "null"]
    if not types and ("oneOf" in prop or "anyOf" in prop):
        return "json", ""
    if len(types) != 1:
        return ("json", "") if len(types) > 1 else ("string", "")
    t = types[0]
    airbyte_type = prop.get("airbyte_type", "")
    if t == "integer" or (t == "number" and airbyte_type == "integer"):
        return "integer", ""
    if t == "number":
        return "number", ""
    if t == "boolean":
        return "boolean", ""
    if t in ("object", "array"):
        return "json", t
    if t == "string" and prop.get("format") == "date-time":
        if airbyte_type == "timestamp_without_timezone":
            return "timestamp_ntz", ""
        return "timestamp", ""
    return "string", ""


def columns_of(schema: Mapping[str, Any]) -> list[Column]:
    """The typed columns of a stream: its schema's top-level properties, in schema order."""
    props = schema.get("properties") or {}
    return [
        Column(name, *_kind(prop if isinstance(prop, Mapping) else {}))
        for name, prop in props.items()
    ]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _integer(v: Any) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v) if -(2**63) <= v < 2**63 else None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str):
        return str(int(v.strip()))
    return None


#: a ``number`` column is ``DECIMAL(38, 9)``, as in Airbyte's SQL destinations: 29 digits before
#: the point; a value beyond them is nulled and recorded, not a failed batch
NUMBER_LIMIT = 10**29


def _number(v: Any) -> str | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        v = float(v.strip())
    if isinstance(v, int):
        return str(v) if -NUMBER_LIMIT < v < NUMBER_LIMIT else None
    if isinstance(v, float):
        return repr(v) if -NUMBER_LIMIT < v < NUMBER_LIMIT else None  # NaN and inf fail too
    return None


def _boolean(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower()
    return None


def _timestamp(v: Any) -> str | None:
    if isinstance(v, str):
        ts = datetime.fromisoformat(v.strip())  # 3.11: accepts "Z" and offsets
        return v if ts.tzinfo is not None else v.strip() + "+00:00"
    return None


def _timestamp_ntz(v: Any) -> str | None:
    if isinstance(v, str):
        return datetime.fromisoformat(v.strip()).replace(tzinfo=None).isoformat()
    return None


def _string(v: Any) -> str | None:
    return v if isinstance(v, str) else _dumps(v)


def _json_of(shape: str) -> Callable[[Any], str | None]:
    want = {"object": dict, "array": list}.get(shape)

    def convert(v: Any) -> str | None:
        if want is not None and not isinstance(v, want):
            return None
        return _json(v)

    return convert


_CONVERT: dict[Kind, Callable[[Any], str | None]] = {
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "timestamp_ntz": _timestamp_ntz,
    "string": _string,
}


def _fast(kind: Kind, shape: str, values: list[Any]) -> list[str | None] | None:
    """The whole column converted in one pass when every value has its schema's type (the usual
    case); None when one does not (then :func:`_slow` converts value by value)."""
    if kind == "integer":
        if all(type(v) is int or v is None for v in values):
            ints = [v for v in values if v is not None]
            if not ints or (min(ints) >= -(2**63) and max(ints) < 2**63):  # fits a bigint
                return [None if v is None else str(v) for v in values]
    elif kind == "number":
        if all(
            v is None or ((type(v) is float or type(v) is int) and -NUMBER_LIMIT < v < NUMBER_LIMIT)
            for v in values
        ):
            return [None if v is None else repr(v) for v in values]
    elif kind == "string":
        if all(type(v) is str or v is None for v in values):
            return values
    elif kind == "timestamp":
        if all(type(v) is str or v is None for v in values):
            try:  # every value must parse; the text itself goes to the warehouse
                for v in values:
                    if v is not None and datetime.fromisoformat(v).tzinfo is None:
                        return None
            except ValueError:
                return None
            return values
    elif kind == "json":
        want = {"object": dict, "array": list}.get(shape)
        if want is None or all(type(v) is want or v is None for v in values):
            return [None if v is None else _json(v) for v in values]
    return None


def _slow(
    name: str, convert: Callable[[Any], str | None], values: list[Any], changes: dict[int, list]
) -> list[str | None]:
    out: list[str | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        try:
            got = convert(v)
        except (ValueError, TypeError, OverflowError):
            got = None
        if got is None:
            changes.setdefault(i, []).append(
                {"field": name, "change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}
            )
        out.append(got)
    return out


def _json_text() -> Callable[[Any], str]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson comes with airbyte-cdk
        return _dumps

    def dumps(v: Any) -> str:
        try:
            return orjson.dumps(v).decode()
        except TypeError:  # an int beyond 64 bits, a non-string key: the standard library's way
            return _dumps(v)

    return dumps


_json = _json_text()


class ColumnMaker:
    """Turns a batch of records into the text values of its typed columns (one list per column,
    in ``columns`` order), plus the ``_airbyte_meta.changes`` entries of the values it had to
    null, by row."""

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns
        self._plan = [
            (c, _json_of(c.json_shape) if c.kind == "json" else _CONVERT[c.kind]) for c in columns
        ]

    def make(
        self, records: list[Mapping[str, Any]]
    ) -> tuple[list[list[str | None]], dict[int, list[dict[str, str]]]]:
        changes: dict[int, list[dict[str, str]]] = {}
        out = []
        for col, convert in self._plan:
            name = col.name
            values = [r.get(name) for r in records]
            fast = _fast(col.kind, col.json_shape, values)
            out.append(fast if fast is not None else _slow(name, convert, values, changes))
        return out, changes
