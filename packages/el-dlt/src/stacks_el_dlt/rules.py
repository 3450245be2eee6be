"""What a declared column accepts, checked row by row on the dict path.

A rule is built from dlt's column schemas (the resource's hints plus the types stored by earlier
loads); dlt's own coercion decides whether a value fits, so what passes here is what dlt would
load into the declared column.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from stacks_el_dlt.quarantine import string_violation

__all__ = ["ColumnRule", "check_row", "rules_from_columns"]

#: Python types accepted without asking dlt's coercion (the fast path for well-typed rows)
_FAST_TYPES: dict[str, tuple[type, ...]] = {
    "bigint": (int,),
    "double": (float, int),
    "decimal": (Decimal, int, float),
    "text": (str,),
    "bool": (bool,),
    "timestamp": (datetime,),
    "date": (date,),
    "time": (time,),
    "json": (dict, list),
    "binary": (bytes,),
}


class ColumnRule:
    """What a declared column accepts: a dlt data type and whether it may be null."""

    __slots__ = ("data_type", "fast", "nullable")

    def __init__(self, data_type: str | None, nullable: bool) -> None:
        self.data_type = data_type
        self.nullable = nullable
        self.fast = _FAST_TYPES.get(data_type or "", ())

    def violation(self, column: str, value: Any) -> str | None:
        if value is None:
            return None if self.nullable else f"column {column!r} is null but required"
        if self.data_type is None or type(value) in self.fast:
            return None
        if type(value) is bool and self.data_type != "bool":
            return _reason(column, value, self.data_type)
        return _coerce_violation(column, value, self.data_type)


def _reason(column: str, value: Any, data_type: str) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"column {column!r}: {type(value).__name__} value {shown} is not {data_type}"


def _coerce_violation(column: str, value: Any, data_type: str) -> str | None:
    # dlt's own coercion decides: what it can coerce, it would load into the declared column
    from dlt.common.data_types.type_helpers import coerce_value, py_type_to_sc_type

    try:
        # data_type is a declared dlt type name (a str; dlt's hint is its TDataType Literal)
        coerce_value(data_type, py_type_to_sc_type(type(value)), value)  # type: ignore[arg-type]
    except (ValueError, TypeError, ArithmeticError):
        return _reason(column, value, data_type)
    return None


def check_row(
    row: dict[str, Any], rules: Mapping[str, ColumnRule], strings: bool
) -> tuple[str, str] | None:
    """(column, reason) for the first rule ``row`` breaks, or the first string no warehouse
    stores (``strings``)."""
    for column, rule in rules.items():
        reason = rule.violation(column, row.get(column))
        if reason is not None:
            return column, reason
    if strings and (found := string_violation(row)) is not None:
        return found[0], f"column {found[0]!r}: {found[1]}"
    return None


def rules_from_columns(columns: Mapping[str, Mapping[str, Any]]) -> dict[str, ColumnRule]:
    """Rules from dlt column schemas: typed columns and required (non-null / key) columns."""
    rules = {}
    for name, col in columns.items():
        if name.startswith("_dlt_") or name.startswith("_stacks_"):
            continue
        data_type = col.get("data_type")
        required = col.get("nullable") is False or bool(col.get("primary_key"))
        if data_type is None and not required:
            continue
        rules[name] = ColumnRule(data_type, nullable=not required)
    return rules
