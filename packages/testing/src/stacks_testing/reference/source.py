"""The reference source (JSON lines on disk) and the SQL helpers the reference steps share."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stacks_contract.warehouse import Warehouse, redact
from stacks_core.sql import Connection

ENV_STEP = "STACKS_REFERENCE_STEP"
ENV_TRANSFORM = "STACKS_REFERENCE_TRANSFORM"
ENV_STACK = "STACKS_REFERENCE_STACK"

STATE_SCHEMA = "stacks_meta"
STATE_TABLE = "_stacks_reference_state"
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TS_FORMAT)


# --- the source ---------------------------------------------------------------------------------


class ReferenceSource:
    """A JSON-lines file standing in for a source system. Each row has ``id`` (or the given key
    columns) and ``updated_at`` (ISO-8601 UTC); updates bump ``updated_at`` past every row."""

    def __init__(self, path: str | Path, key: Sequence[str] = ("id",)) -> None:
        self.path = Path(path)
        self.key = tuple(key)

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        # write-then-rename: a reader (maybe another process) never sees half a file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        tmp.replace(self.path)

    def next_timestamp(self) -> str:
        stamps = [r["updated_at"] for r in self.rows() if r.get("updated_at")]
        latest = max(stamps) if stamps else "2024-01-01T00:00:00Z"
        return ts(datetime.strptime(latest, TS_FORMAT).replace(tzinfo=UTC) + timedelta(days=1))

    def append(self, row: dict[str, Any]) -> dict[str, Any]:
        row = {"updated_at": self.next_timestamp(), **row}
        self.write([*self.rows(), row])
        return row

    def update(self, key: dict[str, Any], column: str, value: Any) -> None:
        stamp = self.next_timestamp()
        rows, hit = self.rows(), False
        for r in rows:
            if all(r.get(k) == v for k, v in key.items()):
                r[column], r["updated_at"], hit = value, stamp, True
        if not hit:
            raise KeyError(f"no source row with key {key}")
        self.write(rows)


# --- helpers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    """One database transaction on the autocommit wrapper (same statements on both engines)."""
    conn.execute("begin")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            conn.execute("rollback")
        raise
    conn.execute("commit")


def sql_type(values: Iterable[Any], dialect: str) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {bool}:
        return "boolean"
    if kinds and kinds <= {int}:
        return "bigint"
    if kinds and kinds <= {int, float}:
        return "double precision" if dialect == "postgres" else "double"
    return "varchar"


def cell(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def db_message(exc: BaseException, warehouse: Warehouse) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return redact(text, warehouse)
