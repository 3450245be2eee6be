"""A source column whose type changed since the last load: widen the warehouse, or keep its type.

What Fivetran calls type widening and dlt's schema contract calls a ``data_type`` change, decided
on dlt column schemas (the type a resource declares now vs the type stored by earlier loads):

* **widening** (an integer to a wider integer or a decimal, a decimal to more digits or a larger
  scale, a string to a longer or unbounded one): the raw table's column and its merge staging
  table's are altered to the wider type before the load, so every value lands exactly;
* **narrowing** (the source's type now holds less than the warehouse's): the warehouse keeps its
  wider type, every value fits;
* **incompatible** (e.g. an integer that became text): the warehouse keeps its type; the values
  that do not fit it are set aside by the step's contract (quarantine, or a dlt variant column).

The resource is then declared with the type the warehouse holds, so dlt's stored schema always
describes the warehouse, never a type it does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Change", "compare", "follow_drift", "reconcile", "type_text", "widen_warehouse"]

#: the widest decimal every warehouse holds (DuckDB: 38 digits)
MAX_DIGITS = 38
#: decimal digits an integer of n bits needs
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}
_PROPS = ("data_type", "precision", "scale")


@dataclass(frozen=True)
class Change:
    """One column whose declared type differs from the stored one."""

    table: str
    column: str
    kind: str  # "widen", "narrow" or "incompatible"
    stored: Mapping[str, Any]
    incoming: Mapping[str, Any]
    #: the type the warehouse holds after this run (the widened one, or the stored one)
    target: Mapping[str, Any]

    def describe(self) -> str:
        was, now = type_text(self.stored), type_text(self.incoming)
        head = f"table {self.table}: column {self.column} changed type {was} -> {now}"
        if self.kind == "widen":
            return f"{head}: widened to {type_text(self.target)} in the warehouse"
        return f"{head}: the warehouse keeps {was}; values that do not fit it are set aside"


def type_text(col: Mapping[str, Any]) -> str:
    """A dlt column type as a short text: ``decimal(14,3)``, ``bigint(32)``, ``text(40)``."""
    kind, p, s = (col.get(k) for k in _PROPS)
    if kind == "decimal" and p is not None:
        return f"decimal({p},{s or 0})"
    return f"{kind}({p})" if p is not None and kind in ("bigint", "text") else str(kind)


def _int_bits(col: Mapping[str, Any]) -> int:
    return int(col.get("precision") or 64)


def _decimal(col: Mapping[str, Any]) -> tuple[int, int]:
    if col.get("data_type") == "bigint":
        return _INT_DIGITS.get(_int_bits(col), 19), 0
    p, s = col.get("precision"), col.get("scale")
    return (MAX_DIGITS, 9) if p is None else (int(p), int(s or 0))


def compare(stored: Mapping[str, Any], incoming: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(kind, target)``: kind is ``same``, ``widen``, ``narrow`` or ``incompatible``; target
    the type props (data_type, precision, scale) the warehouse should hold."""
    a, b = stored.get("data_type"), incoming.get("data_type")
    keep = {k: stored.get(k) for k in _PROPS}
    if a == b and all(stored.get(k) == incoming.get(k) for k in ("precision", "scale")):
        return "same", keep
    if {a, b} == {"text", "json"}:
        return "same", keep  # both strings: JSON text in a text column, or text in a JSON one
    if a == b == "bigint":
        wider = _int_bits(incoming) > _int_bits(stored)
        return (
            ("widen", {**keep, "precision": incoming.get("precision")})
            if wider
            else (
                "narrow",
                keep,
            )
        )
    if {a, b} <= {"bigint", "decimal"}:
        (p1, s1), (p2, s2) = _decimal(stored), _decimal(incoming)
        scale = max(s1, s2)
        digits = max(p1 - s1, p2 - s2) + scale
        if digits > MAX_DIGITS:
            return "incompatible", keep
        if (a, digits, scale) == ("decimal", p1, s1):
            return "narrow", keep
        return "widen", {"data_type": "decimal", "precision": digits, "scale": scale}
    if a == b == "text":
        n1, n2 = stored.get("precision"), incoming.get("precision")
        if n1 is not None and (n2 is None or n2 > n1):
            return "widen", {**keep, "precision": n2}
        return "narrow", keep
    if a == b:
        return "same", keep  # e.g. a timestamp's precision: dlt's own business
    return "incompatible", keep


def reconcile(
    table: str,
    stored: Mapping[str, Mapping[str, Any]],
    declared: Mapping[str, Mapping[str, Any]],
) -> list[Change]:
    """The columns of ``declared`` (complete dlt columns) whose type differs from ``stored``."""
    changes = []
    for name, col in declared.items():
        old = stored.get(name)
        if not old or not old.get("data_type") or not col.get("data_type"):
            continue
        kind, target = compare(old, col)
        if kind != "same":
            changes.append(Change(table, name, kind, dict(old), dict(col), target))
    return changes


def widen_warehouse(pipeline: Any, changes: list[Change]) -> list[tuple[Change, str]]:
    """ALTER the raw and staging tables' columns of the ``widen`` changes; returns the changes
    that could not be applied, with the database's reason (e.g. a view depends on the column)."""
    widen = [c for c in changes if c.kind == "widen"]
    if not widen:
        return []
    failed: list[tuple[Change, str]] = []
    with pipeline.destination_client() as client:
        mapper = client.capabilities.get_type_mapper()
        sql = client.sql_client
        staging = client.config.normalize_staging_dataset_name(pipeline.default_schema)
        for dataset in (sql.dataset_name, staging):
            with sql.with_alternative_dataset_name(dataset):
                present = _tables(sql, dataset)
                for change in widen:
                    if change.table not in present or any(f is change for f, _ in failed):
                        continue
                    column = {"name": change.column, **change.incoming, **change.target}
                    kind = mapper.to_destination_type(column, {"name": change.table})
                    qualified = sql.make_qualified_table_name(change.table)
                    name = sql.escape_column_name(change.column)
                    try:
                        sql.execute_sql(f"ALTER TABLE {qualified} ALTER COLUMN {name} TYPE {kind}")
                    except Exception as exc:
                        from stacks_el_dlt.errors import root_message

                        failed.append((change, root_message(exc)))
    return failed


def _tables(sql: Any, dataset: str) -> set[str]:
    rows = sql.execute_sql(
        "select table_name from information_schema.tables where table_schema = %s", dataset
    )
    return {r[0] for r in rows or []}


def follow_drift(
    resource: Any, table: str, stored: Mapping[str, Any], naming: Any, pipeline: Any
) -> list[str]:
    """Declared column types of ``resource`` that changed since the last load: widen the
    warehouse (when ``pipeline`` is given), then declare the type the warehouse holds. Returns
    one line per change a user should hear of."""
    from stacks_el_dlt.hints import declared_columns, retarget

    changes = reconcile(table, stored, declared_columns(resource, naming))
    if not changes:
        return []
    lines = []
    failed = widen_warehouse(pipeline, changes) if pipeline is not None else []
    for change, why in failed:
        kept = {k: change.stored.get(k) for k in change.target}
        at = changes.index(change)
        changes[at] = Change(
            table, change.column, "incompatible", change.stored, change.incoming, kept
        )
        lines.append(f"table {table}: cannot widen column {change.column}: {why}")
    retarget(resource, naming, changes)
    return lines + [c.describe() for c in changes if c.kind != "narrow"]
