"""Files landing in a folder (CSV, JSONL, Parquet) through dlt's ``filesystem`` source.

The file listing is incremental on ``modification_date``: a run reads only files that are new or
changed since the last run, so a file-arrival trigger has exactly the new files to load. Rows
merge on ``primary_key`` when given (a re-written file updates its rows), else they append
(each new file's rows once). CSV is read by ``pyarrow.csv`` into typed Arrow tables: dlt's own
CSV readers need pandas (not installed) or break on duckdb 2.0's relation API.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.warehouse import DEFAULT_SCHEMA

from stacks_el_dlt.quarantine import Rejected
from stacks_el_dlt.step import DltStep

_FORMATS = ("csv", "jsonl", "parquet")


def _format_for(pattern: str, file_format: str | None) -> str:
    if file_format is None:
        ext = pattern.rsplit(".", 1)[-1].lower() if "." in pattern else ""
        file_format = {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet"}.get(ext, ext)
    if file_format not in _FORMATS:
        raise ConfigError(
            f"Cannot tell the file format of {pattern!r}: pass file_format= one of "
            f"{', '.join(_FORMATS)}."
        )
    return file_format


def _read_csv_arrow(items: Any) -> Any:
    import pyarrow.csv as pacsv

    # the CSV convention Postgres' COPY and most exports follow: an empty unquoted field is
    # NULL, a quoted "" an empty string (pyarrow's default reads every empty string field as '')
    nulls = pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)

    for file_obj in items:
        rejected: list[Rejected] = []

        def invalid_row(
            row: Any, name: str = file_obj["relative_path"], rejected: list[Rejected] = rejected
        ) -> str:
            # a row with too many or too few fields: quarantined, the rest of the file loads
            # (pyarrow knows the line number only when it reads on one thread)
            where = f"file {name}" + (f" line {row.number}" if row.number else "")
            reason = f"{where}: CSV row has {row.actual_columns} fields, expected "
            rejected.append(Rejected(f"{reason}{row.expected_columns}", row.text))
            return "skip"

        with file_obj.open() as fh:
            options = pacsv.ParseOptions(invalid_row_handler=invalid_row)
            table = pacsv.read_csv(fh, parse_options=options, convert_options=nulls)
        if table.num_rows:
            yield _null_columns_as_text(table)
        yield from rejected


def _null_columns_as_text(table: Any) -> Any:
    """A CSV column empty in every row of a file reads as Arrow's null type, which dlt does not
    create in the warehouse: a CSV field is text, so it becomes a text column of NULLs (a column
    the warehouse already holds is cast to its stored type later)."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return table


def _read_jsonl(items: Any, chunksize: int = 1000) -> Any:
    """JSON lines as pages of dicts; a line that is not a JSON object (truncated, invalid) is
    quarantined with the file and line number, and the file's other lines load."""
    from dlt.common import json

    for file_obj in items:
        name = file_obj["relative_path"]
        page: list[dict[str, Any]] = []
        with file_obj.open(mode="rt", encoding="utf-8", errors="surrogateescape") as fh:
            for number, line in enumerate(fh, start=1):
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                    problem = None if isinstance(row, dict) else "not a JSON object"
                except ValueError as exc:
                    problem = str(exc)
                if problem is not None:
                    yield Rejected(f"file {name} line {number}: {problem}", text)
                    continue
                page.append(row)
                if len(page) >= chunksize:
                    yield page
                    page = []
        if page:
            yield page


def files_source(
    folder: str | os.PathLike[str],
    *,
    table: str,
    pattern: str = "*.csv",
    file_format: str | None = None,
    primary_key: str | list[str] | None = None,
) -> Any:
    """A fresh dlt resource reading ``pattern`` files under ``folder`` into ``table``."""
    import dlt
    from dlt.sources.filesystem import filesystem, read_parquet

    fmt = _format_for(pattern, file_format)
    path = Path(folder).expanduser().absolute()
    if not path.is_dir():
        raise ConfigError(f"The landing folder {path} does not exist or is not a folder.")
    files = filesystem(bucket_url=path.as_uri(), file_glob=pattern)
    files.apply_hints(incremental=dlt.sources.incremental("modification_date"))
    read_csv = dlt.transformer(name="read_csv")(_read_csv_arrow)
    read_jsonl = dlt.transformer(name="read_jsonl")(_read_jsonl)
    readers: dict[str, Any] = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}
    reader = readers[fmt]
    resource = (files | reader()).with_name(table)
    if primary_key:
        resource.apply_hints(write_disposition="merge", primary_key=primary_key)
    else:
        resource.apply_hints(write_disposition="append")
    return resource


class FilesStep(DltStep):
    """A landing folder as an EL step: each run loads the files that arrived since the last."""

    incremental = True

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        table: str,
        pattern: str = "*.csv",
        file_format: str | None = None,
        primary_key: str | list[str] | None = None,
        name: str | None = None,
        dataset: str = DEFAULT_SCHEMA,
        **kwargs: Any,
    ) -> None:
        _format_for(pattern, file_format)  # fail at construction, not at run
        self.folder = Path(folder).expanduser().absolute()
        self.pattern = pattern
        super().__init__(
            name or f"files_{table}",
            partial(
                files_source,
                self.folder,
                table=table,
                pattern=pattern,
                file_format=file_format,
                primary_key=primary_key,
            ),
            dataset=dataset,
            **kwargs,
        )
        self.source_hint = f"{self.folder}/{pattern}"
