"""The orders-like data every case loads, generated deterministically in Arrow batches.

Shape (7 columns): id bigint, customer_id bigint, status text, amount double,
created_at timestamptz, updated_at timestamptz, note text. Batches are generated from
(seed, batch index), so a streaming source never holds all rows and two processes see the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

BATCH = 100_000
STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled", "returned"]
_WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
]
_T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)  # microseconds
_YEAR_US = 365 * 24 * 3600 * 1_000_000
_MONTH_US = 30 * 24 * 3600 * 1_000_000
TS = pa.timestamp("us", tz="UTC")

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("customer_id", pa.int64()),
        ("status", pa.string()),
        ("amount", pa.float64()),
        ("created_at", TS),
        ("updated_at", TS),
        ("note", pa.string()),
    ]
)


def _notes() -> pa.Array:
    # 4096 distinct notes of 10-80 chars: realistic text width without per-row Python work
    import random

    rng = random.Random(7)
    return pa.array([" ".join(rng.choices(_WORDS, k=rng.randint(2, 12))) for _ in range(4096)])


_NOTES = _notes()


def _ints(n: int, lo: int, hi: int, seed: int) -> pa.Array:
    # pyarrow's seeded uniform doubles (no numpy in the workspace): ints in [lo, hi)
    r = pc.random(n, initializer=seed)
    return pc.cast(pc.add(pc.floor(pc.multiply(r, hi - lo)), lo), pa.int64())


def batch(start: int, size: int, seed: int = 42) -> pa.RecordBatch:
    """Rows with ids start+1 .. start+size, the same for the same (start, size, seed)."""
    s = seed * 1_000_003 + start
    ids = pa.array(range(start + 1, start + size + 1), type=pa.int64())
    created = pc.add(_ints(size, 0, _YEAR_US, s + 1), _T0)
    updated = pc.add(created, _ints(size, 0, _MONTH_US, s + 2))
    amount = pc.round(pc.add(pc.multiply(pc.random(size, initializer=s + 3), 1999), 1), 2)
    return pa.RecordBatch.from_arrays(
        [
            ids,
            _ints(size, 1, 200_000, s + 4),
            pc.take(pa.array(STATUSES), _ints(size, 0, len(STATUSES), s + 5)),
            amount,
            pc.cast(created, TS),
            pc.cast(updated, TS),
            pc.take(_NOTES, _ints(size, 0, len(_NOTES), s + 6)),
        ],
        schema=SCHEMA,
    )


def batches(rows: int, seed: int = 42, size: int = BATCH) -> Iterator[pa.RecordBatch]:
    for start in range(0, rows, size):
        yield batch(start, min(size, rows - start), seed)


def table(rows: int, seed: int = 42) -> pa.Table:
    return pa.Table.from_batches(list(batches(rows, seed)), schema=SCHEMA)


def changed(tbl: pa.Table, fraction: float = 0.01, seed: int = 9) -> pa.Table:
    """The same rows with ``fraction`` of them changed: status rewritten, updated_at moved past
    every existing cursor value (so an incremental source picks exactly these up)."""
    step = max(1, round(1 / fraction))
    # every step-th row, offset by the seed: deterministic, evenly spread over the table
    pos = pa.array(range(tbl.num_rows), type=pa.int64())
    mask = pc.equal(pc.remainder(pc.add(pos, seed), step), 0)
    later = pc.max(tbl["updated_at"]).value + 3600 * 1_000_000
    status = pc.if_else(mask, pa.scalar("changed"), tbl["status"])
    upd = pc.if_else(mask, pa.scalar(later, type=TS), tbl["updated_at"])
    return tbl.set_column(2, "status", status).set_column(5, "updated_at", upd)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_dicts(b: pa.RecordBatch | pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts with tz-aware datetimes. pyarrow's own to_pylist spends ~10 s per 1M rows on
    tz-aware timestamps (zoneinfo); epoch + timedelta is ~20x faster, so the source stays cheap."""
    cols = []
    for name in b.schema.names:
        col = b.column(name)
        if pa.types.is_timestamp(col.type):
            us = pc.cast(col, pa.int64()).to_pylist()
            cols.append([_EPOCH + timedelta(microseconds=v) for v in us])
        else:
            cols.append(col.to_pylist())
    names = b.schema.names
    return [dict(zip(names, r, strict=True)) for r in zip(*cols, strict=True)]


def dict_pages(
    src: pa.Table | int, page: int = 1000, seed: int = 42
) -> Iterator[list[dict[str, Any]]]:
    """What a REST API gives: pages of Python dicts (datetimes already parsed). From a table, or
    streamed from the generator (``src`` = a row count) so memory stays flat."""
    it = batches(src, seed) if isinstance(src, int) else src.to_batches(BATCH)
    for b in it:
        rows = to_dicts(b)
        for i in range(0, len(rows), page):
            yield rows[i : i + page]
