"""The one step stacks adds to every dlt resource: stamp the run id, set bad rows aside.

It runs inside dlt's extract pipe (after dlt's incremental filter), so anyone running the source
with ``pipeline.run`` gets the same rows, stamps and quarantine as :meth:`DltStep.run`.

* Every dict row and every Arrow table gets ``_stacks_run_id`` and ``_stacks_loaded_at``; dlt's
  normalizer propagates both into child tables (see :func:`~stacks_el_dlt.hints.propagate_stamps`).
* A dict row that breaks the declared schema (a typed column whose value dlt cannot coerce to the
  declared type, a missing primary-key or non-nullable value: :mod:`stacks_el_dlt.rules`) is
  routed, in the same load package, to ``<dataset>._stacks_quarantine`` with the table, the reason
  and the raw payload. The quarantine table merges on a hash of (step, table, reason, payload), so
  re-running a load never duplicates a quarantined row. Arrow tables are split by
  :func:`~stacks_el_dlt.quarantine.split_arrow`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dlt.extract.items_transform import ItemTransform

from stacks_el_dlt.arrow_pages import (
    DLT_ROW_COLUMNS,
    has_nul,
    page_passes,
    page_to_arrow,
    required_fields,
    stamp_table,
)
from stacks_el_dlt.names import LOADED_AT, QUARANTINE_TABLE, ROW_HASH, RUN_ID
from stacks_el_dlt.quarantine import Rejected, split_arrow, split_rejects
from stacks_el_dlt.rules import ColumnRule, check_row

__all__ = ["StampAndQuarantine"]


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
        known_columns: Mapping[str, Mapping[str, Any]] | None = None,
        text_lengths: bool = False,
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
        #: the stored columns (integer width, decimal precision and scale a value must fit)
        self.known_columns = dict(known_columns or {})
        #: the warehouse enforces string lengths (Postgres varchar(n))
        self.text_lengths = text_lengths

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if isinstance(item, Rejected):
            return self._set_aside([(item.payload, item.column, item.reason)])
        if isinstance(item, list):
            if not item or not isinstance(item[0], dict):
                return item
            return self._rows(item)
        if isinstance(item, dict):
            return self._rows([item])
        item, rejected = split_rejects(item)
        if not self.quarantine:
            good, bad = item, list[tuple[dict[str, Any], str, str]]()
        else:
            required = {n for n, r in self.rules.items() if not r.nullable}
            good, bad = split_arrow(
                item,
                self.known_types,
                required,
                self._normalize,
                self.known_columns,
                self.text_lengths,
            )
        bad = rejected + bad
        if not bad:
            return self._stamp(good)
        marked = self._set_aside([(row, column, reason) for row, column, reason in bad])
        return iter([self._stamp(good), marked]) if good.num_rows else marked

    def _stamp(self, table: Any, dlt_columns: bool = False) -> Any:
        return stamp_table(table, self.run_id, self.loaded_at, dlt_columns)

    def _set_aside(self, bad: list[tuple[Any, str | None, str]]) -> Any:
        """``(row or raw text, column, reason)`` as quarantine rows, counted for this table."""
        import dlt

        self.counter[self.table] += len(bad)
        quarantined = [self._quarantine_row(row, reason, column) for row, column, reason in bad]
        # the table variant's hints were registered by declare_quarantine()
        return dlt.mark.with_table_name(quarantined, QUARANTINE_TABLE)

    def _rows(self, rows: list[dict[str, Any]]) -> Any:
        if not self._aliased and self.rules and isinstance(rows[0], dict):
            self._alias_rules(rows[0])
        rules, run_id, loaded_at = self.rules, self.run_id, self.loaded_at
        if self.arrow_batches and not self.row_hash:
            # the page as one Arrow table, checked column by column (null counts, types): the
            # per-row checks below cost more than the conversion itself (1.2 s of a 1M-row load)
            table = page_to_arrow(rows, self._normalize, self.known_types)
            if table is not None and page_passes(table, self.rules) and not has_nul(table):
                return self._arrow_out(table)
        bad: list[tuple[dict[str, Any], str | None, str]] = []
        good = rows
        if rules or self.quarantine:
            good = []
            for row in rows:
                found = check_row(row, rules, self.quarantine) if isinstance(row, dict) else None
                if found is None:
                    good.append(row)
                else:
                    bad.append((row, *found))
        if self.row_hash:
            from dlt.common.normalizers.json.helpers import get_row_hash

            for row in good:
                row[ROW_HASH] = get_row_hash(row)
        out: Any = good
        table = (
            page_to_arrow(good, self._normalize, self.known_types)
            if self.arrow_batches and good
            else None
        )
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
        required = {name for name, rule in self.rules.items() if not rule.nullable}
        out = required_fields(self._stamp(table, dlt_columns=True), required)
        if not self._hinted:
            # if this page creates the table, its _dlt_id must be the row key (as on the dict
            # path), or dlt's merge would join child tables on the primary key
            import dlt

            self._hinted = True
            out = dlt.mark.with_hints(out, dlt.mark.make_hints(columns=DLT_ROW_COLUMNS))
        return out

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


def _storable(text: str) -> str:
    """``text`` with what no warehouse stores (NUL, lone surrogates) as backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
