"""The one step stacks adds to every dlt resource: stamp the run id, set bad rows aside.

It runs inside dlt's extract pipe (after dlt's incremental filter), so anyone running the source
with ``pipeline.run`` gets the same rows, stamps and quarantine as :meth:`DltStep.run`.

* Every dict row and every Arrow table gets ``_stacks_run_id`` and ``_stacks_loaded_at``; dlt's
  normalizer propagates both into child tables (see :func:`propagate_stamps`).
* A dict row that breaks the declared schema (a typed column whose value dlt cannot coerce to the
  declared type, a missing primary-key or non-nullable value) is routed, in the same load package,
  to ``<dataset>._stacks_quarantine`` with the table, the reason and the raw payload. The
  quarantine table merges on a hash of (step, table, reason, payload), so re-running a load never
  duplicates a quarantined row. Arrow tables are typed already; dlt's own contract applies there.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dlt.extract.items_transform import ItemTransform

from stacks_el_dlt.names import LOADED_AT, QUARANTINE_TABLE, ROW_HASH, RUN_ID
from stacks_el_dlt.quarantine import Rejected, split_arrow, string_violation

if TYPE_CHECKING:
    from dlt.common.schema.typing import TColumnSchema

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

QUARANTINE_COLUMNS: dict[str, dict[str, Any]] = {
    "quarantine_id": {"data_type": "text", "nullable": False, "primary_key": True},
    "step": {"data_type": "text", "nullable": False},
    "table_name": {"data_type": "text", "nullable": False},
    "column_name": {"data_type": "text", "nullable": True},
    "reason": {"data_type": "text", "nullable": False},
    "payload": {"data_type": "text", "nullable": False},
    RUN_ID: {"data_type": "text", "nullable": False},
    LOADED_AT: {"data_type": "timestamp", "nullable": False},
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


class StampAndQuarantine(ItemTransform[Any, dict[str, Any]]):
    """A dlt pipe step: stamps run id and load time; routes rules-breaking dict rows aside."""

    # after dlt's incremental (1) so only new rows are stamped and checked
    placement_affinity = 1.5

    def __init__(
        self,
        *,
        step: str,
        table: str,
        run_id: str,
        loaded_at: datetime,
        rules: Mapping[str, ColumnRule],
        counter: Counter[str] | None = None,
        normalize: Any = None,
        row_hash: bool = False,
        arrow_batches: bool = False,
        known_types: Mapping[str, str] | None = None,
        quarantine: bool = True,
    ) -> None:
        super().__init__(lambda item: item)
        self.step = step
        self.table = table
        self.run_id = run_id
        self.loaded_at = loaded_at
        self.rules = dict(rules)
        self.counter = counter if counter is not None else Counter()
        # rules name normalized columns; rows carry the source's spelling ("updatedAt")
        self._normalize = normalize
        self._aliased = normalize is None
        self.row_hash = row_hash
        self.arrow_batches = arrow_batches
        self._hinted = False
        #: normalized column -> dlt type already stored or declared (what the dict path would use)
        self.known_types = dict(known_types or {})
        #: whether unloadable values are set aside (see :mod:`stacks_el_dlt.quarantine`)
        self.quarantine = quarantine

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if isinstance(item, Rejected):
            return self._set_aside([(item.payload, item.column, item.reason)])
        if isinstance(item, list):
            if not item or not isinstance(item[0], dict):
                return item
            return self._rows(item)
        if isinstance(item, dict):
            return self._rows([item])
        if not self.quarantine:
            return self._stamp_table(item)
        required = {n for n, r in self.rules.items() if not r.nullable}
        good, bad = split_arrow(item, self.known_types, required, self._normalize)
        if not bad:
            return self._stamp_table(good)
        marked = self._set_aside([(row, column, reason) for row, column, reason in bad])
        return iter([self._stamp_table(good), marked]) if good.num_rows else marked

    def _set_aside(self, bad: list[tuple[Any, str | None, str]]) -> Any:
        """``(row or raw text, column, reason)`` as quarantine rows, counted for this table."""
        import dlt

        self.counter[self.table] += len(bad)
        quarantined = [self._quarantine_row(row, reason, column) for row, column, reason in bad]
        # the table variant's hints were registered by declare_quarantine()
        return dlt.mark.with_table_name(quarantined, QUARANTINE_TABLE)

    def _rows(self, rows: list[dict[str, Any]]) -> Any:
        if not self._aliased and rules_present(self.rules) and isinstance(rows[0], dict):
            self._alias_rules(rows[0])
        rules, run_id, loaded_at = self.rules, self.run_id, self.loaded_at
        if self.arrow_batches and not self.row_hash:
            # the page as one Arrow table, checked column by column (null counts, types): the
            # per-row checks below cost more than the conversion itself (1.2 s of a 1M-row load)
            table = self._to_arrow(rows)
            if table is not None and self._arrow_passes(table) and not _has_nul(table):
                return self._arrow_out(table)
        bad: list[tuple[dict[str, Any], str | None, str]] = []
        good = rows
        if rules or self.quarantine:
            good = []
            for row in rows:
                found = _check(row, rules, self.quarantine) if isinstance(row, dict) else None
                if found is None:
                    good.append(row)
                else:
                    bad.append((row, *found))
        if self.row_hash:
            from dlt.common.normalizers.json.helpers import get_row_hash

            for row in good:
                row[ROW_HASH] = get_row_hash(row)
        out: Any = good
        table = self._to_arrow(good) if self.arrow_batches and good else None
        if table is not None:
            out = self._arrow_out(table)
        else:
            for row in good:
                row[RUN_ID] = run_id
                row[LOADED_AT] = loaded_at
        if not bad:
            return out
        marked = self._set_aside(bad)
        return iter([out, marked]) if good else marked

    def _arrow_out(self, table: Any) -> Any:
        out = self._required_fields(self._stamp_table(table, dlt_columns=True))
        if not self._hinted:
            # if this page creates the table, its _dlt_id must be the row key (as on the dict
            # path), or dlt's merge would join child tables on the primary key
            import dlt

            self._hinted = True
            out = dlt.mark.with_hints(out, dlt.mark.make_hints(columns=DLT_ROW_COLUMNS))
        return out

    def _arrow_passes(self, table: Any) -> bool:
        """Whether every row of ``table`` (built by :meth:`_to_arrow`) passes the rules, i.e.
        the per-row check would quarantine nothing. ``_to_arrow`` already refused a column whose
        type differs from a declared one, so what is left is nulls in required columns."""
        names = set(table.column_names)
        for column, rule in self.rules.items():
            if column not in names:
                if not rule.nullable:
                    return False  # absent from every row: each one would be quarantined
                continue
            if not rule.nullable and table.column(column).null_count:
                return False
            arrow_type = table.schema.field(column).type
            if rule.data_type is not None and _arrow_dlt_type(arrow_type) != rule.data_type:
                return False
        return True

    def _alias_rules(self, first: dict[str, Any]) -> None:
        # assume one key spelling per resource (true of every API we know); decided once
        self._aliased = True
        raw_for = {self._normalize(k): k for k in first}
        self.rules = {raw_for.get(name, name): rule for name, rule in self.rules.items()}

    def _quarantine_row(self, row: Any, reason: str, column: str | None) -> dict[str, Any]:
        # ASCII JSON: a NUL byte or a lone surrogate becomes a \u escape any warehouse stores
        payload = (
            _storable(row) if isinstance(row, str) else json.dumps(row, sort_keys=True, default=str)
        )
        reason = _storable(reason)
        digest = hashlib.sha256(
            "\x1f".join((self.step, self.table, reason, payload)).encode()
        ).hexdigest()
        return {
            "quarantine_id": digest[:32],
            "step": self.step,
            "table_name": self.table,
            "column_name": self._normalize(column) if column and self._normalize else column,
            "reason": reason,
            "payload": payload,
            RUN_ID: self.run_id,
            LOADED_AT: self.loaded_at,
        }

    def _to_arrow(self, rows: list[dict[str, Any]]) -> Any:
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
        if self._normalize and len({self._normalize(k) for k in keys}) != width:
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
            dlt_type = _arrow_dlt_type(field.type)
            if dlt_type is None:
                return None
            value = first.get(field.name)
            if value is not None and _py_dlt_type(value) != dlt_type:
                return None  # e.g. int then float: dlt would type the column by the first value
            name = self._normalize(field.name) if self._normalize else field.name
            known = self.known_types.get(name)
            if known is not None and known != dlt_type:
                return None
            if known is None and dlt_type == "text" and isinstance(value, str):
                from dlt.common.schema.detections import is_iso_timestamp

                if is_iso_timestamp(str, value):
                    return None  # dlt's iso_timestamp detection would make it a timestamp
        return table

    def _required_fields(self, table: Any) -> Any:
        """Mark key / required columns non-nullable in the Arrow schema, as dlt's hints say:
        otherwise dlt logs a hint-mismatch warning for every page. Rows with nulls there were
        quarantined already, and the dlt columns are never null, so no data check is needed."""
        import pyarrow as pa

        required = {name for name, rule in self.rules.items() if not rule.nullable}
        required |= {"_dlt_id", "_dlt_load_id"}
        fields = [f.with_nullable(False) if f.name in required else f for f in table.schema]
        return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))

    def _stamp_table(self, table: Any, dlt_columns: bool = False) -> Any:
        # Arrow tables / record batches: constant columns, no per-row Python work
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            return table
        if isinstance(table, pa.Table | pa.RecordBatch):
            n = table.num_rows
            if dlt_columns:
                # a page turned into Arrow carries the columns dlt's dict path would add, so the
                # two paths can write to one table in any order
                table = _with_dlt_columns(table)
            names = table.schema.names
            if RUN_ID not in names:
                table = table.append_column(RUN_ID, pa.repeat(pa.scalar(self.run_id), n))
            if LOADED_AT not in names:
                ts = pa.scalar(self.loaded_at, type=pa.timestamp("us", tz="UTC"))
                table = table.append_column(LOADED_AT, pa.repeat(ts, n))
        return table


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


def _arrow_dlt_type(arrow_type: Any) -> str | None:
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
    import os as _os

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
        prefix = _os.urandom(9).hex()[:12]
        idx = pc.cast(pa.array(range(n), type=pa.int64()), pa.string())
        ids = pc.binary_join_element_wise(pa.scalar(prefix), idx, "")
        table = table.append_column("_dlt_id", ids)
    return table


def rules_present(rules: Mapping[str, ColumnRule]) -> bool:
    return bool(rules)


def _check(
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


def _storable(text: str) -> str:
    """``text`` with what no warehouse stores (NUL, lone surrogates) as backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _has_nul(table: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in table.columns:
        if pa.types.is_string(column.type) and pc.any(pc.match_substring(column, "\x00")).as_py():
            return True
    return False


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


def version_scd2_rows(resource: Any) -> bool:
    """For an scd2 resource without its own row version column, use :data:`ROW_HASH`.

    Returns whether the stamp step must compute it. (Arrow tables are not hashed here: give such
    resources a ``row_version_column_name`` of your own.)
    """
    wd = resource.write_disposition
    if not isinstance(wd, dict) or wd.get("strategy") != "scd2":
        return False
    if wd.get("row_version_column_name"):
        return False
    resource.apply_hints(write_disposition={**wd, "row_version_column_name": ROW_HASH})
    return True


def declare_quarantine(resource: Any) -> None:
    """Register ``_stacks_quarantine`` as a table variant of ``resource`` (merge on its id).

    dlt seeds a variant with the resource's own hints; the first call empties columns, nested
    hints and merge key so the quarantine table has its own shape only.
    """
    resource.apply_hints(
        table_name=QUARANTINE_TABLE,
        columns={},
        nested_hints={},
        merge_key="",
        create_table_variant=True,
    )
    resource.apply_hints(
        table_name=QUARANTINE_TABLE,
        write_disposition="merge",
        primary_key="quarantine_id",
        columns=[{"name": k, **v} for k, v in QUARANTINE_COLUMNS.items()],
        create_table_variant=True,
    )


def propagate_stamps(schema: Any) -> None:
    """Make dlt copy the stamps from each root row into every child row it unnests."""
    from dlt.common.normalizers.json.relational import DataItemNormalizer
    from dlt.common.schema.typing import TColumnName

    run_id, loaded_at = TColumnName(RUN_ID), TColumnName(LOADED_AT)
    DataItemNormalizer.update_normalizer_config(
        schema, {"propagation": {"root": {run_id: run_id, loaded_at: loaded_at}}}
    )
