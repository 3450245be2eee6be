"""Values no warehouse can load, found before dlt writes them: set aside, not failing the step.

Three kinds of item reach :class:`~stacks_el_dlt.stamp.StampAndQuarantine`:

* :class:`Rejected`: a source's own "this could not be parsed" (a truncated JSONL line, a CSV
  row with the wrong number of fields), with the file and line in the reason;
* dict rows: a string holding a NUL byte (Postgres ``text`` cannot store it) or a lone surrogate
  (not UTF-8: Arrow, Parquet and both warehouses refuse it), anywhere in the row;
* Arrow tables: a column whose type differs from the type stored for it (a source column that
  changed type between runs: Postgres' binary COPY then fails with ``insufficient data left in
  message``), cast with ``safe=True`` (``"7"`` loads as 7); the values that do not cast, nulls
  in required columns and NUL bytes are split out row by row.

The same rules on every warehouse, so a source loads the same rows into Postgres and DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Rejected", "split_arrow", "split_rejects", "string_violation"]


@dataclass(frozen=True)
class Rejected:
    """An item a source could not turn into a row: goes to the quarantine table as it is.

    ``payload`` is the raw text (e.g. the JSONL line); ``reason`` says where it came from (file
    and line) and what was wrong, in the parser's own words."""

    reason: str
    payload: str
    column: str | None = None


def string_violation(row: Mapping[str, Any]) -> tuple[str, str] | None:
    """(column, reason) for the first string in ``row`` (nested values included) that no
    warehouse can store, else ``None``."""
    for key, value in row.items():
        reason = _bad_value(value)
        if reason is not None:
            return str(key), reason
    return None


def _bad_value(value: Any) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return "string holds a NUL byte (\\x00), which Postgres text cannot store"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"string is not valid UTF-8: {exc.reason} at position {exc.start}"
        return None
    if isinstance(value, dict):
        for inner in value.values():
            if (reason := _bad_value(inner)) is not None:
                return reason
    elif isinstance(value, list | tuple):
        for inner in value:
            if (reason := _bad_value(inner)) is not None:
                return reason
    return None


def _target_type(data_type: str) -> Any:
    import pyarrow as pa

    return {
        "bigint": pa.int64(),
        "double": pa.float64(),
        "bool": pa.bool_(),
        "text": pa.string(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "decimal": pa.decimal128(38, 9),
    }.get(data_type)


def _exact_type(column: Mapping[str, Any]) -> Any:
    """The Arrow type of a stored integer or decimal column, precision and scale included."""
    import pyarrow as pa

    kind = column.get("data_type")
    if kind == "bigint":
        return {8: pa.int8(), 16: pa.int16(), 32: pa.int32()}.get(
            column.get("precision") or 64, pa.int64()
        )
    if kind == "decimal" and column.get("precision") is not None:
        p, s = int(column["precision"]), int(column.get("scale") or 0)
        return pa.decimal128(p, s) if p <= 38 else None
    return None


def split_arrow(
    table: Any,
    known_types: Mapping[str, str],
    required: set[str],
    normalize: Callable[[str], str] | None,
    known_columns: Mapping[str, Mapping[str, Any]] | None = None,
    text_lengths: bool = False,
) -> tuple[Any, list[tuple[dict[str, Any], str, str]]]:
    """``table`` with mismatched columns cast to their stored types, minus the rows that
    cannot load; those come back as ``(row, column, reason)``. ``known_columns``: the stored
    columns, whose integer width, decimal precision and scale (and with ``text_lengths``, a
    Postgres warehouse, string length) a value must fit."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from dlt.common.libs.pyarrow import get_column_type_from_py_arrow

    from stacks_el_dlt.drift import type_text

    if not isinstance(table, pa.Table | pa.RecordBatch) or not table.num_rows:
        return table, []
    n = table.num_rows
    reasons: dict[int, tuple[str, str]] = {}
    casts: dict[int, Any] = {}
    for i, field in enumerate(table.schema):
        name = normalize(field.name) if normalize else field.name
        column = table.column(i)
        if name in required and column.null_count:
            for pos in _positions(column.is_null()):
                reasons.setdefault(pos, (name, f"column {name!r} is null but required"))
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            has_nul = pc.fill_null(pc.match_substring(column, "\x00"), False)
            for pos in _positions(has_nul):
                reasons.setdefault(pos, (name, f"column {name!r}: {_bad_value(chr(0))}"))
        known = known_types.get(name)
        stored = (known_columns or {}).get(name) or {}
        length = stored.get("precision") if text_lengths and known == "text" else None
        if length is not None and (
            pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        ):
            too_long = pc.fill_null(pc.greater(pc.utf8_length(column), int(length)), False)
            for pos in _positions(too_long):
                shown = _shown(column[pos].as_py())
                reasons.setdefault(
                    pos, (name, f"column {name!r}: value {shown} is longer than text({length})")
                )
        exact = _exact_type(stored) if stored.get("data_type") == known else None
        target = exact or (_target_type(known) if known else None)
        if target is None:
            continue
        try:
            current = get_column_type_from_py_arrow(field.type).get("data_type")
        except Exception:
            current = None
        if current == known and (exact is None or field.type == exact):
            continue
        want = type_text(stored) if exact is not None else known
        for pos in _uncastable(column, target):
            shown = _shown(column[pos].as_py())
            reasons.setdefault(
                pos, (name, f"column {name!r}: {field.type} value {shown} does not fit {want}")
            )
        casts[i] = target
    if not reasons and not casts:
        return table, []
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    bad = sorted(reasons)
    rejected: list[tuple[dict[str, Any], str, str]] = []
    if bad:
        # (a cast with no bad value, e.g. a column null in every row, takes no rows)
        picked = table.take(pa.array(bad, type=pa.int64())).to_pylist()
        rejected = [(row, *reasons[pos]) for pos, row in zip(bad, picked, strict=True)]
        keep = pc.invert(pc.is_in(pa.array(range(n)), value_set=pa.array(bad)))
        table = table.filter(keep)
    for i, target in casts.items():
        table = table.set_column(i, table.field(i).name, pc.cast(table.column(i), target))
    return table, rejected


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def split_rejects(table: Any) -> tuple[Any, list[tuple[dict[str, Any], str, str]]]:
    """``table`` minus the rows whose :data:`~stacks_el_dlt.names.REJECTS` column names values no
    warehouse type holds (see :mod:`stacks_el_dlt.sources.sql_query`), as ``(row, column,
    reason)``; the column itself and the xmin cursor are dropped (neither is loaded)."""
    import json

    import pyarrow as pa
    import pyarrow.compute as pc

    from stacks_el_dlt.names import REJECTS, XMIN

    if not isinstance(table, pa.Table | pa.RecordBatch):
        return table, []
    names = table.schema.names
    if REJECTS not in names:
        return (table.drop_columns([XMIN]) if XMIN in names else table), []
    rejects = table.column(REJECTS)
    table = table.drop_columns([c for c in (REJECTS, XMIN) if c in names])
    if rejects.null_count == len(rejects):
        return table, []
    bad = list(_positions(rejects.is_valid()))
    out = []
    for pos, row in zip(bad, table.take(pa.array(bad, type=pa.int64())).to_pylist(), strict=True):
        values = json.loads(rejects[pos].as_py())
        row.update(values)  # the payload shows the value as the source holds it
        first = sorted(values)[0]
        shown = ", ".join(f"{c}={v!r}" for c, v in sorted(values.items()))
        out.append((row, first, f"value(s) no warehouse type holds: {shown}"))
    keep = pc.invert(pc.is_in(pa.array(range(table.num_rows)), value_set=pa.array(bad)))
    return table.filter(keep), out


def _positions(mask: Any) -> Iterator[int]:
    import pyarrow.compute as pc

    yield from pc.indices_nonzero(mask).to_pylist()


def _uncastable(column: Any, target: Any) -> list[int]:
    """Positions in ``column`` whose non-null value does not cast to ``target`` (safe cast)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(column, target, safe=True)
        return []
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return list(_positions(column.is_valid()))  # no cast between the types at all
    except pa.ArrowInvalid:
        return _halving(column, target, 0)


def _casts(column: Any, target: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(column, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _halving(column: Any, target: Any, offset: int) -> list[int]:
    """Positions of the values that do not cast: O(bad x log n) casts, not one per value."""
    if _casts(column, target):
        return []
    if len(column) == 1:
        return [offset]
    mid = len(column) // 2
    return _halving(column.slice(0, mid), target, offset) + _halving(
        column.slice(mid), target, offset + mid
    )
