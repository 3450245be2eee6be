"""The bench's dlt sources, as el-dlt source factories (zero-arg callables -> fresh dlt resource).

They behave like a source that can filter server-side (a SQL table or an API with
``updated_since``): the incremental cursor's last value is pushed down, so a run with no new data
reads nothing. dict sources yield pages of 1000 rows, the way a REST API pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import data
import pyarrow as pa
import pyarrow.compute as pc

TableFn = Callable[[], pa.Table]


def _since(tbl: pa.Table, last_value: Any) -> pa.Table:
    if last_value is None:
        return tbl
    return tbl.filter(pc.greater_equal(tbl["updated_at"], pa.scalar(last_value, type=data.TS)))


def arrow_items(get: TableFn, last_value: Any = None) -> Iterator[pa.Table]:
    tbl = _since(get(), last_value)
    for b in tbl.to_batches(data.BATCH):
        yield pa.Table.from_batches([b])


def dict_items(
    get: TableFn, pages: Callable[[], list[list[dict[str, Any]]]] | None, last_value: Any = None
) -> Iterator[list[dict[str, Any]]]:
    # a full read serves pre-built pages (building 1M dicts is the API server's work, not the
    # loader's); a filtered read builds only the rows that match, as a server would
    if last_value is None and pages is not None:
        yield from pages()
        return
    yield from data.dict_pages(_since(get(), last_value))


def streamed_arrow(rows: int) -> Iterator[pa.Table]:
    """Generated on the fly, never all in memory: for peak-RSS measurements."""
    for b in data.batches(rows):
        yield pa.Table.from_batches([b])


def orders(
    items: Callable[[Any], Iterator[Any]],
    *,
    incremental: bool = True,
    write_disposition: str | dict[str, Any] = "merge",
    primary_key: str | None = "id",
) -> Callable[[], Any]:
    """A factory for the ``orders`` resource: keyed, merged, incremental on ``updated_at`` by
    default (what a user declares for an orders table); ``items(last_value)`` yields the data."""

    def factory() -> Any:
        import dlt

        hints: dict[str, Any] = {"name": "orders", "write_disposition": write_disposition}
        if primary_key:
            hints["primary_key"] = primary_key
        if incremental:

            @dlt.resource(**hints)
            def orders_inc(updated_at=dlt.sources.incremental("updated_at")):  # noqa: B008
                yield from items(updated_at.last_value)

            return orders_inc

        @dlt.resource(**hints)
        def orders_full():
            yield from items(None)

        return orders_full

    return factory
