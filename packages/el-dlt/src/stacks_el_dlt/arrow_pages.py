"""Pages of flat dict rows as Arrow tables, when dlt's dict path would load them identically.

dlt's per-row normalizer is ~10x slower than its Arrow path; a page takes the Arrow path only when
the result is the same table: same keys in every row, no nested values, column types as dlt would
infer them from the first row, no ISO-timestamp string dlt would detect, no conflict with a stored
or declared type. Such pages carry ``_dlt_id`` / ``_dlt_load_id`` like the dict path, so both
paths can write one table in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stacks_el_dlt.names import LOADED_AT, RUN_ID
from stacks_el_dlt.rules import ColumnRule

if TYPE_CHECKING:
    from dlt.common.schema.typing import TColumnSchema

__all__ = [
    "DLT_ROW_COLUMNS",
    "arrow_dlt_type",
    "has_nul",
    "page_passes",
    "page_to_arrow",
    "required_fields",
    "stamp_table",
]

#: what dlt's default schema hints make of these columns on the dict path
DLT_ROW_COLUMNS: list[TColumnSchema] = [
    {"name": "_dlt_id", "data_type": "text", "nullable": False, "unique": True, "row_key": True},
    {"name": "_dlt_load_id", "data_type": "text", "nullable": False},
]

_ARROW_TYPES: dict[str, str] = {
    "int64": "bigint",
    "double": "double",
    "string": "text",
    "large_string": "text",
    "bool": "bool",
    "date32[day]": "date",
}


def page_to_arrow(
    rows: list[dict[str, Any]],
    normalize: Callable[[str], str] | None,
    known_types: Mapping[str, str],
) -> Any:
    """``rows`` as one Arrow table when dlt's dict path would load them identically, else
    ``None`` (the page then takes the dict path: nested values become child tables, ISO
    strings timestamps, odd values variants or quarantine, exactly as dlt decides)."""
    import pyarrow as pa

    first = rows[0]
    keys = list(first)
    for value in first.values():
        if isinstance(value, dict | list | tuple | set | Decimal | bytes):
            return None
    width = len(keys)
    if normalize and len({normalize(k) for k in keys}) != width:
        return None  # two keys name one column ("updatedAt", "updated_at"): dlt merges them
    for row in rows:
        if not isinstance(row, dict) or len(row) != width:  # a key more or less than the first
            return None
    try:
        # column by column, as Table.from_pylist does, minus its per-value key test; a
        # missing key (same width, other names) raises KeyError: the page takes the dict path
        table = pa.table({k: [row[k] for row in rows] for k in keys})
    except (KeyError, pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    for field in table.schema:
        dlt_type = arrow_dlt_type(field.type)
        if dlt_type is None:
            return None
        value = first.get(field.name)
        if value is not None and _py_dlt_type(value) != dlt_type:
            return None  # e.g. int then float: dlt would type the column by the first value
        name = normalize(field.name) if normalize else field.name
        known = known_types.get(name)
        if known is not None and known != dlt_type:
            return None
        if known is None and dlt_type == "text" and isinstance(value, str):
            from dlt.common.schema.detections import is_iso_timestamp

            if is_iso_timestamp(str, value):
                return None  # dlt's iso_timestamp detection would make it a timestamp
    return table


def page_passes(table: Any, rules: Mapping[str, ColumnRule]) -> bool:
    """Whether every row of ``table`` (built by :func:`page_to_arrow`) passes the rules, i.e.
    the per-row check would quarantine nothing. ``page_to_arrow`` already refused a column whose
    type differs from a declared one, so what is left is nulls in required columns."""
    names = set(table.column_names)
    for column, rule in rules.items():
        if column not in names:
            if not rule.nullable:
                return False  # absent from every row: each one would be quarantined
            continue
        if not rule.nullable and table.column(column).null_count:
            return False
        arrow_type = table.schema.field(column).type
        if rule.data_type is not None and arrow_dlt_type(arrow_type) != rule.data_type:
            return False
    return True


def required_fields(table: Any, required: set[str]) -> Any:
    """Mark key / required columns non-nullable in the Arrow schema, as dlt's hints say:
    otherwise dlt logs a hint-mismatch warning for every page. Rows with nulls there were
    quarantined already, and the dlt columns are never null, so no data check is needed."""
    import pyarrow as pa

    required = required | {"_dlt_id", "_dlt_load_id"}
    fields = [f.with_nullable(False) if f.name in required else f for f in table.schema]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


def stamp_table(table: Any, run_id: str, loaded_at: datetime, dlt_columns: bool = False) -> Any:
    """``table`` with the run id and load time as constant columns (no per-row Python work);
    ``dlt_columns``: also the columns dlt's dict path adds (a page turned into Arrow)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return table
    if isinstance(table, pa.Table | pa.RecordBatch):
        n = table.num_rows
        if dlt_columns:
            table = _with_dlt_columns(table)
        names = table.schema.names
        if RUN_ID not in names:
            table = table.append_column(RUN_ID, pa.repeat(pa.scalar(run_id), n))
        if LOADED_AT not in names:
            ts = pa.scalar(loaded_at, type=pa.timestamp("us", tz="UTC"))
            table = table.append_column(LOADED_AT, pa.repeat(ts, n))
    return table


def arrow_dlt_type(arrow_type: Any) -> str | None:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamp" if arrow_type.tz is not None else None  # naive: dlt assumes UTC
    return _ARROW_TYPES.get(str(arrow_type))


def _py_dlt_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "timestamp" if value.tzinfo is not None else None
    if isinstance(value, date):
        return "date"
    return None


def _with_dlt_columns(table: Any) -> Any:
    """``_dlt_load_id`` (this load) and a unique ``_dlt_id`` per row, as dlt's dict path adds."""
    import os

    import pyarrow as pa
    import pyarrow.compute as pc
    from dlt.common.storages.load_package import load_package_state

    n = table.num_rows
    names = table.schema.names
    if "_dlt_load_id" not in names:
        load_id = load_package_state()["load_id"]
        table = table.append_column("_dlt_load_id", pa.repeat(pa.scalar(load_id), n))
    if "_dlt_id" not in names:
        # a random 12-char prefix per page + the row's index: unique like dlt's random ids,
        # ~20x cheaper than one random id per row
        prefix = os.urandom(9).hex()[:12]
        idx = pc.cast(pa.array(range(n), type=pa.int64()), pa.string())
        ids = pc.binary_join_element_wise(pa.scalar(prefix), idx, "")
        table = table.append_column("_dlt_id", ids)
    return table


def has_nul(table: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in table.columns:
        if pa.types.is_string(column.type) and pc.any(pc.match_substring(column, "\x00")).as_py():
            return True
    return False
