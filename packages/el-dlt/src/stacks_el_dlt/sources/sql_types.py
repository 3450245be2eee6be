"""The Postgres type map of :class:`~stacks_el_dlt.sources.sql.SqlDatabaseStep`.

Every source column either loads as a warehouse type that keeps its value (integers, floats,
``numeric(p,s)`` up to 38 digits, text, enum labels, uuid, bool, date, time, timestamps, bytea), or
is rendered as text *by the source database* in the SELECT, so the text is Postgres's own (and a
value that dlt, Arrow, Parquet or the warehouse cannot hold never reaches them). The table in
packages/el-dlt/README.md ("Postgres types") is the documentation of this module.

Both halves are dlt's own hooks of ``sql_database``: :func:`adapt_type` is its
``type_adapter_callback`` (the column type dlt declares), :func:`adapt_query` its
``query_adapter_callback`` (the expression selected).
"""

from __future__ import annotations

from typing import Any

#: the widest decimal every warehouse holds (DuckDB: 38 digits)
MAX_DECIMAL_DIGITS = 38

#: how a column is selected: as is, ``col::text``, ``to_jsonb(col)::text`` or ``col::numeric``
AS_IS, TEXT, JSON, NUMERIC = "as_is", "text", "json", "numeric"


def rendering(sql_type: Any) -> str:
    """How a reflected SQLAlchemy column type is selected (one of the constants above)."""
    from sqlalchemy import types as sa
    from sqlalchemy.dialects import postgresql as pg

    if isinstance(sql_type, pg.DOMAIN):
        return rendering(sql_type.data_type)  # a domain loads as its base type
    if isinstance(sql_type, sa.ARRAY):
        return JSON
    if isinstance(sql_type, sa.JSON):
        return TEXT
    if isinstance(sql_type, pg.MONEY):
        return NUMERIC
    if isinstance(sql_type, sa.Float | sa.Integer | sa.Boolean | sa.Date | sa.Uuid):
        return AS_IS
    if isinstance(sql_type, sa.Numeric):
        digits = sql_type.precision
        return AS_IS if digits is not None and digits <= MAX_DECIMAL_DIGITS else TEXT
    if isinstance(sql_type, sa.String | sa.Enum | sa.LargeBinary | sa.DateTime):
        return AS_IS
    if isinstance(sql_type, sa.Time):
        return TEXT if sql_type.timezone else AS_IS  # no warehouse type keeps timetz's offset
    # interval, inet, cidr, macaddr, tsvector, ranges, bit strings, xml, geometric and unknown
    # types: Postgres's own text output
    return TEXT


def adapt_type(sql_type: Any) -> Any:
    """dlt's ``type_adapter_callback``: the type dlt declares for a column of ``sql_type``."""
    from sqlalchemy import types as sa
    from sqlalchemy.dialects import postgresql as pg

    how = rendering(sql_type)
    if how == NUMERIC:
        return sa.Numeric(19, 2)  # money: 64-bit cents
    if how == JSON or isinstance(sql_type, sa.JSON):
        return sa.JSON()  # dlt's json: DuckDB's JSON type; the value is the source's JSON text
    if how == TEXT:
        return sa.Text()
    if isinstance(sql_type, pg.DOMAIN):
        return adapt_type(sql_type.data_type)
    if isinstance(sql_type, sa.Enum):
        return sa.Text()
    if isinstance(sql_type, sa.Float):
        # what dlt reads as "double" (SQLAlchemy 2.1's Float is no Numeric, which dlt checks)
        return sa.Numeric(asdecimal=False)
    return sql_type


def int_bits(sql_type: Any) -> int | None:
    """Bits of a source integer (dlt's ``precision`` of a ``bigint``), so smallint and integer
    stay smallint and integer (dlt's reflection widens both to bigint)."""
    from sqlalchemy import types as sa
    from sqlalchemy.dialects import postgresql as pg

    if isinstance(sql_type, pg.DOMAIN):
        return int_bits(sql_type.data_type)
    if isinstance(sql_type, sa.SmallInteger):
        return 16
    if isinstance(sql_type, sa.BigInteger):
        return 64
    if isinstance(sql_type, sa.Integer):
        return 32
    return None


def cursor_capable(sql_type: Any) -> bool:
    """Whether a column can be an incremental cursor (ordered, loaded as is)."""
    from sqlalchemy import types as sa
    from sqlalchemy.dialects import postgresql as pg

    if isinstance(sql_type, pg.DOMAIN):
        return cursor_capable(sql_type.data_type)
    return rendering(sql_type) == AS_IS and isinstance(
        sql_type, sa.DateTime | sa.Date | sa.Integer | sa.Numeric
    )
