"""dlt's ``TableLoader`` building Arrow tables with the source's types, not the resource hints.

The resource hints are the warehouse's types (see :mod:`stacks_el_dlt.drift`): when a source
column narrowed or changed type, a value may not fit them, and dlt's conversion would fail the
whole table. Built with the source's own types, every value converts; the stamp step casts the
table to the warehouse's types and sets aside, named, the values that do not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stacks_el_dlt.sources.sql_query import TableReading, source_columns

__all__ = ["loader_class"]


def loader_class(readings: Mapping[str, TableReading]) -> type:
    """A ``table_loader_class`` for dlt's ``sql_database`` bound to the source's readings."""
    from dlt.sources.sql_database.helpers import TableLoader

    class SourceTypedLoader(TableLoader):
        def __init__(self, engine: Any, backend: Any, table: Any, columns: Any, **kw: Any):
            super().__init__(engine, backend, table, columns, **kw)
            self.columns = source_columns(table, readings.get(table.name, TableReading()))

    return SourceTypedLoader
