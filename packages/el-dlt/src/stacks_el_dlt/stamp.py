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
from typing import Any

from dlt.extract.items_transform import ItemTransform

from stacks_el_dlt.names import LOADED_AT, QUARANTINE_TABLE, ROW_HASH, RUN_ID

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

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if isinstance(item, list):
            if not item or not isinstance(item[0], dict):
                return item
            return self._rows(item)
        if isinstance(item, dict):
            return self._rows([item])
        return self._stamp_table(item)

    def _rows(self, rows: list[dict[str, Any]]) -> Any:
        if not self._aliased and rules_present(self.rules) and isinstance(rows[0], dict):
            self._alias_rules(rows[0])
        rules, run_id, loaded_at = self.rules, self.run_id, self.loaded_at
        bad: list[tuple[dict[str, Any], str]] = []
        good = rows
        if rules:
            good = []
            for row in rows:
                reason = _check(row, rules) if isinstance(row, dict) else None
                if reason is None:
                    good.append(row)
                else:
                    bad.append((row, reason))
        if self.row_hash:
            from dlt.common.normalizers.json.helpers import get_row_hash

            for row in good:
                row[ROW_HASH] = get_row_hash(row)
        for row in good:
            row[RUN_ID] = run_id
            row[LOADED_AT] = loaded_at
        if not bad:
            return good
        self.counter[self.table] += len(bad)
        import dlt

        quarantined = [self._quarantine_row(row, reason) for row, reason in bad]
        # the table variant's hints were registered by declare_quarantine()
        marked = dlt.mark.with_table_name(quarantined, QUARANTINE_TABLE)
        return iter([good, marked]) if good else marked

    def _alias_rules(self, first: dict[str, Any]) -> None:
        # assume one key spelling per resource (true of every API we know); decided once
        self._aliased = True
        raw_for = {self._normalize(k): k for k in first}
        self.rules = {raw_for.get(name, name): rule for name, rule in self.rules.items()}

    def _quarantine_row(self, row: dict[str, Any], reason: str) -> dict[str, Any]:
        payload = json.dumps(row, sort_keys=True, default=str)
        digest = hashlib.sha256(
            "\x1f".join((self.step, self.table, reason, payload)).encode()
        ).hexdigest()
        return {
            "quarantine_id": digest[:32],
            "step": self.step,
            "table_name": self.table,
            "reason": reason,
            "payload": payload,
            RUN_ID: self.run_id,
            LOADED_AT: self.loaded_at,
        }

    def _stamp_table(self, table: Any) -> Any:
        # Arrow tables / record batches: two constant columns, no per-row Python work
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            return table
        if isinstance(table, pa.Table | pa.RecordBatch):
            n = table.num_rows
            names = table.schema.names
            if RUN_ID not in names:
                table = table.append_column(RUN_ID, pa.repeat(pa.scalar(self.run_id), n))
            if LOADED_AT not in names:
                ts = pa.scalar(self.loaded_at, type=pa.timestamp("us", tz="UTC"))
                table = table.append_column(LOADED_AT, pa.repeat(ts, n))
        return table


def rules_present(rules: Mapping[str, ColumnRule]) -> bool:
    return bool(rules)


def _check(row: dict[str, Any], rules: Mapping[str, ColumnRule]) -> str | None:
    for column, rule in rules.items():
        reason = rule.violation(column, row.get(column))
        if reason is not None:
            return reason
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

    DataItemNormalizer.update_normalizer_config(
        schema, {"propagation": {"root": {RUN_ID: RUN_ID, LOADED_AT: LOADED_AT}}}
    )
