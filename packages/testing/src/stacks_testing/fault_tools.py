"""The fault matrix's tools that need no running stack: duplicate rows, a Postgres restart,
waiting for a lock waiter, the phase a run was in, and the printed table."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stacks_contract.models import TableRef
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_core.fingerprint import is_metadata
from stacks_core.sql import connect, qualified

__all__ = [
    "after_interrupt",
    "duplicate_rows",
    "format_table",
    "last_progress",
    "loads_since",
    "restart_postgres",
    "wait_on_lock",
]

#: a model dbt reported built that is not a staging one (the marts read the staging layer)
_MART_BUILT = re.compile(r"dbt model (?!stg_)(\S+): success")


def format_table(head: Sequence[str], body: Iterable[Sequence[str]]) -> str:
    rows = [tuple(head), *(tuple(r) for r in body)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join(
        [line(rows[0]), line(tuple("-" * w for w in widths))] + [line(r) for r in rows[1:]]
    )


def duplicate_rows(
    warehouse: Warehouse, tables: Iterable[TableRef], metadata: Iterable[str]
) -> dict[str, int]:
    """Table -> how many rows repeat another row (load metadata columns ignored)."""
    patterns = tuple(metadata)
    found: dict[str, int] = {}
    with connect(warehouse) as conn:
        for t in tables:
            cols = [c for c in conn.columns(t.schema_name, t.name) if not is_metadata(c, patterns)]
            if not cols:
                continue
            text = ", ".join(f'cast("{c}" as varchar) as "{c}"' for c in cols)
            rel = qualified(t.schema_name, t.name)
            rows = conn.execute(
                f"select (select count(*) from {rel}) - "
                f"(select count(*) from (select distinct {text} from {rel}) d)"
            )
            if int(rows[0][0]):
                found[t.key] = int(rows[0][0])
    return found


def restart_postgres(warehouse: PostgresWarehouse, *, timeout: float = 60.0) -> None:
    """``pg_ctl restart -m fast`` of the server ``warehouse`` is on (a local cluster this
    machine runs; as the ``postgres`` user when we are root), back when it accepts connections."""
    import psycopg

    with psycopg.connect(warehouse.url(), autocommit=True) as conn:
        data = conn.execute("show data_directory").fetchone()
    assert data is not None
    from stacks_testing.postgres import _as_postgres_user, find_pg_bin

    # -l: the restarted server must not inherit (and hold open) a pipe of ours
    log = str(Path(str(data[0])) / "restart.log")
    cmd = [str(find_pg_bin() / "pg_ctl"), "-D", str(data[0]), "-m", "fast", "-w", "-l", log]
    subprocess.run(
        _as_postgres_user([*cmd, "restart"]),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
        cwd="/",
        start_new_session=True,
    )


def wait_on_lock(conn: Any, table: str, alive: Callable[[], bool], timeout: float) -> bool:
    """Whether another session comes to wait on a lock while its query names ``table`` (poll
    from a connection outside the lock holder's transaction: a transaction sees one snapshot
    of pg_stat_activity)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        waiting = conn.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
            "and pid <> pg_backend_pid() and query ilike %s",
            (f"%{table}%",),
        ).fetchone()
        if waiting and waiting[0]:
            return True
        time.sleep(0.02)
    return False


def last_progress(output: str) -> str:
    """The last progress line the run printed before it was struck (its phase)."""
    for line in reversed(output.splitlines()):
        text = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if re.match(r"^\d+\.\d+s ", text):
            return text.split(" ", 1)[1].split(" into ", 1)[0][:60]
    return ""


def after_interrupt(printed: str, seconds: float, bound: float) -> list[str]:
    """What is wrong with what a run printed after its Ctrl-C (``printed``) and its ``seconds``
    to exit: a traceback, not exactly one "Interrupted" line, a mart built after a Ctrl-C that
    came while staging ran, or an exit slower than ``bound`` (the old Airflow path waited out a
    task's 60 s retry delay, then ran the rest of the DAG)."""
    wrong = []
    if "Traceback" in printed:
        wrong.append("a traceback")
    lines = [line for line in printed.splitlines() if line.startswith("Interrupted")]
    if len(lines) != 1:
        wrong.append(f"{len(lines)} 'Interrupted' lines, not one")
    built = _MART_BUILT.findall(printed)
    if built:
        wrong.append(f"models built after the signal: {', '.join(built)}")
    if seconds > bound:
        wrong.append(f"exit {seconds:.1f} s after the signal (bound {bound:.0f} s)")
    return wrong


def loads_since(warehouse: Warehouse, when: datetime) -> list[str]:
    """dlt load packages the warehouse marked loaded after ``when`` (``_dlt_loads``; none
    when no load ever finished)."""
    schema = warehouse.schema_name
    with connect(warehouse) as conn:
        if (schema, "_dlt_loads") not in set(conn.tables(schema)):
            return []
        rows = conn.execute(f"select load_id, inserted_at from {qualified(schema, '_dlt_loads')}")
    return [f"{load_id} at {at}" for load_id, at in rows if _aware(at) > when]


def _aware(at: Any) -> datetime:

    value = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
