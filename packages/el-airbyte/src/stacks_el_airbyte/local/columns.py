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
    "number": "double precision",
    "boolean": "boolean",
    "timestamp": "timestamp with time zone",
    "timestamp_ntz": "timestamp",
    "json": "jsonb",
    "string": "varchar",
}
_DUCKDB: dict[Kind, str] = {
    "integer": "BIGINT",
    "number": "DOUBLE",
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


def _number(v: Any) -> str | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, str):
        return repr(float(v.strip()))
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
        return v if ts.tzinfo is not None else v + "+00:00"
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
        return _dumps(v)

    return convert


_CONVERT: dict[Kind, Callable[[Any], str | None]] = {
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "timestamp_ntz": _timestamp_ntz,
    "string": _string,
}


class RowMaker:
    """Turns a record's data into the text values of its typed columns (in ``columns`` order),
    plus the ``_airbyte_meta.changes`` entries of the values it had to null."""

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns
        self._plan = [
            (c.name, _json_of(c.json_shape) if c.kind == "json" else _CONVERT[c.kind])
            for c in columns
        ]

    def row(self, data: Mapping[str, Any]) -> tuple[list[str | None], list[dict[str, str]]]:
        values: list[str | None] = []
        changes: list[dict[str, str]] = []
        for name, convert in self._plan:
            v = data.get(name)
            if v is None:
                values.append(None)
                continue
            try:
                out = convert(v)
            except (ValueError, TypeError, OverflowError):
                out = None
            if out is None:
                changes.append(
                    {
                        "field": name,
                        "change": "NULLED",
                        "reason": "DESTINATION_SERIALIZATION_ERROR",
                    }
                )
            values.append(out)
        return values, changes
