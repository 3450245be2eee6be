"""What a Postgres source table is read with: dlt's ``query_adapter_callback`` for sql_database.

Per column, the SELECT renders what :mod:`.sql_types` decided (as is, or Postgres's own text), and
guards the values no Python driver, Arrow or warehouse type can hold (numeric ``NaN`` and
``Infinity``, timestamps and dates at ``+/-infinity``, beyond year 9999 or before year 1, the time
``24:00:00``): such a value is selected as NULL and its text goes, with its column, into one
extra column :data:`REJECTS` (a JSON object, NULL on clean rows). The step's stamp step sets
those rows aside in ``_stacks_quarantine`` (see :mod:`stacks_el_dlt.quarantine`), so one poison
value never fails the table, and the rest of the table loads.

A keyed table without a cursor column is read incrementally by the row's ``xmin`` (what Airbyte's
Postgres source does): :data:`XMIN` carries the reading snapshot's oldest running transaction id
(64-bit, with its wraparound epoch) to every row, which dlt keeps as the cursor; the next read
selects the rows whose ``xmin`` is at or after it (written since, or still running then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks_el_dlt.names import REJECTS, XMIN
from stacks_el_dlt.sources.sql_types import AS_IS, JSON, NUMERIC, TEXT, rendering

__all__ = ["TableReading", "adapt_query", "source_columns"]
#: what every Python datetime, Arrow timestamp and warehouse holds; with a time zone a day less
#: at each end, so the driver's local time (the session's zone) stays within years 1-9999
_TS_RANGE = ("0001-01-01 00:00:00", "9999-12-31 23:59:59.999999")
_TSTZ_RANGE = ("0001-01-02 00:00:00+00", "9999-12-30 00:00:00+00")
_DATE_RANGE = ("0001-01-01", "9999-12-31")


@dataclass
class TableReading:
    """How one table is selected: Postgres types kept as text (Postgres warehouses), xmin."""

    #: columns selected as ``col::text`` to be loaded into the same Postgres type
    keep_as_text: frozenset[str] = frozenset()
    xmin: bool = False
    #: per column: a value the warehouse column cannot hold is set aside (see module docstring)
    guards: dict[str, str] = field(default_factory=dict)


def adapt_query(
    readings: Mapping[str, TableReading],
    query: Any,
    table: Any,
    incremental: Any = None,
    engine: Any = None,
) -> Any:
    """dlt's ``query_adapter_callback`` (bound to ``readings`` by the source)."""
    import sqlalchemy as sa

    reading = readings.get(table.name, TableReading())
    exprs: list[Any] = []
    rejects: list[Any] = []
    for col in query.selected_columns:
        if col.name == XMIN:
            continue
        how = TEXT if col.name in reading.keep_as_text else rendering(col.type)
        if how == AS_IS:
            guard = _poison(col)
            if guard is None:
                exprs.append(col)
                continue
            exprs.append(sa.case((guard, sa.null()), else_=col).label(col.name))
            name = sa.cast(sa.literal(col.name), sa.Text)
            rejects += [name, sa.case((guard, sa.cast(col, sa.Text)))]
            continue
        expr: Any
        if how == JSON:
            expr = sa.cast(sa.func.to_jsonb(col), sa.Text)
        elif how == NUMERIC:
            expr = sa.cast(col, sa.Numeric)
        else:
            expr = sa.cast(col, sa.Text)
        exprs.append(expr.label(col.name))
    if rejects:
        exprs.append(_rejects(rejects).label(REJECTS))
    if reading.xmin:
        return _by_xmin(query, table, exprs, incremental)
    return query.with_only_columns(*exprs, maintain_column_froms=True)


def _poison(col: Any) -> Any:
    """The SQL condition under which ``col``'s value cannot be loaded as its type, or None."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql as pg

    kind = col.type.data_type if isinstance(col.type, pg.DOMAIN) else col.type
    if isinstance(kind, sa.Float):
        return None  # NaN and +/-Infinity: every warehouse's double holds them
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Integer):
        return sa.cast(col, sa.Text).in_(("NaN", "Infinity", "-Infinity"))
    if isinstance(kind, sa.DateTime):
        low, high = _TSTZ_RANGE if kind.timezone else _TS_RANGE
        bound = sa.DateTime(timezone=kind.timezone)
        return sa.not_(col.between(sa.cast(low, bound), sa.cast(high, bound)))
    if isinstance(kind, sa.Date):
        low, high = _DATE_RANGE
        return sa.not_(col.between(sa.cast(low, sa.Date), sa.cast(high, sa.Date)))
    if isinstance(kind, sa.Time) and not kind.timezone:
        return col == sa.cast("24:00:00", sa.Time)
    return None


def _rejects(pairs: list[Any]) -> Any:
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import JSONB

    # jsonb_build_object takes at most 100 arguments: chunks, concatenated
    parts = [sa.func.jsonb_build_object(*pairs[i : i + 100]) for i in range(0, len(pairs), 100)]
    doc: Any = parts[0]
    for part in parts[1:]:
        doc = doc.op("||")(part)
    stripped = sa.func.jsonb_strip_nulls(sa.cast(doc, JSONB))
    return sa.func.nullif(sa.cast(stripped, sa.Text), "{}")


def _by_xmin(query: Any, table: Any, exprs: list[Any], incremental: Any) -> Any:
    import sqlalchemy as sa

    snapshot = sa.func.txid_snapshot_xmin(sa.func.txid_current_snapshot())
    out = sa.select(*exprs, snapshot.label(XMIN)).select_from(table)
    last = incremental.last_value if incremental is not None else None
    if last is not None:
        xid = sa.cast(sa.cast(sa.literal_column("xmin"), sa.Text), sa.BigInteger)
        # the raw xmin is 32 bits; the cursor keeps the epoch (a changed epoch: full re-read)
        out = out.where(xid >= int(last) % 2**32)
    return out


def source_columns(table: Any, reading: TableReading) -> dict[str, Any]:
    """dlt column schemas of the *source's* types (what each selected value is), by which the
    loader builds Arrow tables; the stamp step then casts them to the warehouse's types."""
    from dlt.sources.sql_database.schema_types import table_to_columns

    from stacks_el_dlt.sources.sql_types import adapt_type, int_bits

    columns: dict[str, Any] = dict(table_to_columns(table, "full_with_precision", adapt_type))
    for col in table.columns:
        schema = columns.get(col.name)
        if schema is None:
            continue
        if col.name in reading.keep_as_text:
            columns[col.name] = {"name": col.name, "data_type": "text", "nullable": True}
        elif (bits := int_bits(col.type)) is not None:
            schema["precision"] = bits
    return columns
