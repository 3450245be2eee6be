"""Exact rows-per-table from dlt's load packages.

dlt's normalize metrics count rows x columns for CSV files (``CsvWriter`` adds ``len(row)`` per
row), so the count is read from the files that were loaded: Parquet footers (no data read), CSV
and JSONL records. Other formats (INSERT VALUES) fall back to dlt's normalize metrics, which are
exact for them.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: dlt's own bookkeeping tables; not part of a step's output
_DLT_TABLE_PREFIX = "_dlt_"


def _open_text(path: Path) -> io.TextIOBase:
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    if gz:
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def count_file(path: Path, file_format: str) -> int | None:
    """Rows in one load file, or ``None`` when the format is not countable here."""
    if file_format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    if file_format == "csv":
        with _open_text(path) as fh:
            # csv.reader handles quoted newlines; the first record is the header
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    if file_format == "jsonl":
        with _open_text(path) as fh:
            return sum(1 for line in fh if line.strip())
    return None


def rows_from_load_infos(load_infos: Iterable[Any], trace: Any = None) -> Counter[str]:
    """Rows per (unqualified) table name over every package in ``load_infos``."""
    rows: Counter[str] = Counter()
    fallback: dict[str, dict[str, int]] = _normalize_counts(trace)
    for info in load_infos:
        for package in getattr(info, "load_packages", []) or []:
            uncounted: set[str] = set()
            for job in package.jobs.get("completed_jobs", []):
                fi = job.job_file_info
                if fi.table_name.startswith(_DLT_TABLE_PREFIX) or fi.file_format in (
                    "sql",
                    "reference",
                ):
                    continue
                n = count_file(Path(job.file_path), fi.file_format)
                if n is None:
                    uncounted.add(fi.table_name)
                else:
                    rows[fi.table_name] += n
            for table in uncounted:
                rows[table] += fallback.get(package.load_id, {}).get(table, 0)
    return rows


def _normalize_counts(trace: Any) -> dict[str, dict[str, int]]:
    """load_id -> table -> rows, from every normalize step in ``trace``."""
    out: dict[str, dict[str, int]] = {}
    if trace is None:
        return out
    for step in getattr(trace, "steps", []):
        if step.step != "normalize" or step.step_info is None:
            continue
        for load_id, metrics in step.step_info.metrics.items():
            per_table = out.setdefault(load_id, {})
            for m in metrics:
                for table, tm in m.get("table_metrics", {}).items():
                    per_table[table] = per_table.get(table, 0) + tm.items_count
    return out
