"""What ``stacks check`` proves beyond "N runs leave what 1 run left".

After the N runs, the stack runs once more with ``full_refresh`` (every EL step re-delivers its
whole source, every model is rebuilt from nothing) into a scratch warehouse of the same engine:
an empty DuckDB file in a folder beside the warehouse file, or a scratch database on the same
Postgres server. The user's warehouse and its ledger are not touched. Then, table by table (load
metadata ignored, :func:`~stacks_core.fingerprint.fingerprint`):

* **re-delivery**: the EL steps' tables in the scratch warehouse equal the incrementally loaded
  ones (a source re-delivered from scratch converges to the same data: no lost update, no
  deleted source row kept forever);
* **full rebuild**: the transform's tables equal the incrementally maintained ones (incremental
  models == a rebuild from scratch). Only conclusive when re-delivery holds: otherwise the rebuild
  read other raw data.

Tool-free: everything goes through the ports (the stack's orchestrator runs the scratch run).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks_contract.models import RunRecord, RunRequest, RunStatus, StackSpec, TableRef
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse, redact

from stacks_core.fingerprint import Fingerprint, diff, fingerprint, row_diff
from stacks_core.sql import connect, quote_ident

__all__ = ["Proof", "rebuild_proofs", "scratch_dir", "scratch_target", "scratch_warehouse"]

#: rows shown per side for a table whose content differs
SAMPLE_ROWS = 3


@dataclass(frozen=True)
class Proof:
    """One property ``stacks check`` set out to prove: ``proved`` is ``None`` when it could not
    be tried (``summary`` says why), ``False`` with ``diff`` lines when it found differences."""

    name: str
    proved: bool | None
    summary: str
    diff: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "proved": self.proved,
            "summary": self.summary,
            "diff": list(self.diff),
        }


def scratch_dir(warehouse: DuckDBWarehouse, stack: str) -> Path:
    """The folder the scratch DuckDB file of ``check`` lives in: beside the warehouse file (one
    per stack, so a killed check's leftover is replaced by the next check, and removed by
    ``stacks clean``)."""
    return warehouse.path.with_name(f"{warehouse.path.name}.{stack}.check")


def _scratch_database(warehouse: PostgresWarehouse, stack: str) -> str:
    digest = hashlib.sha1(f"{stack}\0{warehouse.database}".encode()).hexdigest()[:8]
    return f"{warehouse.database[:40]}_stacks_check_{digest}"


def scratch_target(warehouse: Warehouse, stack: str) -> Warehouse:
    """The scratch warehouse ``check`` rebuilds ``stack`` into (the same one every time, so the
    tools' state for it does not pile up): a DuckDB file in :func:`scratch_dir`, or a database
    named after the warehouse's on the same Postgres server."""
    if isinstance(warehouse, DuckDBWarehouse):
        path = scratch_dir(warehouse, stack) / warehouse.path.name
        return warehouse.model_copy(update={"path": path})
    assert isinstance(warehouse, PostgresWarehouse)
    return warehouse.model_copy(update={"database": _scratch_database(warehouse, stack)})


@contextlib.contextmanager
def scratch_warehouse(warehouse: Warehouse, stack: str) -> Iterator[Warehouse]:
    """:func:`scratch_target`, created empty, and removed afterwards."""
    scratch = scratch_target(warehouse, stack)
    if isinstance(scratch, DuckDBWarehouse):
        folder = scratch.path.parent
        shutil.rmtree(folder, ignore_errors=True)  # a killed check's leftover
        folder.mkdir(mode=0o700)
        try:
            yield scratch
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    assert isinstance(scratch, PostgresWarehouse)
    drop = f"drop database if exists {quote_ident(scratch.database)} with (force)"
    with connect(warehouse) as conn:
        conn.execute(drop)
        conn.execute(f"create database {quote_ident(scratch.database)}")
    try:
        yield scratch
    finally:
        with contextlib.suppress(Exception), connect(warehouse) as conn:
            conn.execute(drop)


def _existing(warehouse: Warehouse, refs: Iterable[TableRef]) -> list[TableRef]:
    with connect(warehouse) as conn:
        present = set(conn.tables())
    return [r for r in refs if (r.schema_name, r.name) in present]


def _compare(
    real: Warehouse, scratch: Warehouse, refs: tuple[TableRef, ...], metadata: tuple[str, ...]
) -> tuple[Fingerprint, list[str]]:
    """The fingerprint of ``refs`` in ``real`` and the lines where ``scratch`` differs (with a
    few differing rows of each table whose content differs)."""
    keys = {r.key for r in refs}
    mine = fingerprint(real, _existing(real, refs), metadata=metadata)
    theirs = fingerprint(scratch, _existing(scratch, refs), metadata=metadata)
    lines: list[str] = []
    for line in diff(mine, theirs):
        lines.append(line)
        key = line.split(":", 1)[0]
        if key in keys and key in mine and key in theirs:
            ref = TableRef.parse(key)
            lines += [f"    {x}" for x in row_diff(real, scratch, ref, metadata, limit=SAMPLE_ROWS)]
    return mine, lines


def rebuild_proofs(
    spec: Callable[[Warehouse], StackSpec],
    warehouse: Warehouse,
    run: Callable[[Warehouse, RunRequest], RunRecord],
    *,
    metadata: tuple[str, ...],
) -> list[Proof]:
    """Run the stack with ``full_refresh`` into a scratch warehouse (``run(scratch, request)``)
    and compare it with ``warehouse``: the re-delivery proof, then the full-rebuild proof."""
    stack = spec(warehouse)
    el = tuple(t for step in stack.el_steps for t in step.produces())
    models = stack.transform.produces() if stack.transform is not None else ()
    fixed = [step.name for step in stack.el_steps if step.fixed_destination]
    if fixed:  # a full refresh would write into the real warehouse, not the scratch one
        reason = (
            f"EL step {', '.join(map(repr, fixed))} writes where its engine's connection points, "
            "not into a scratch warehouse"
        )
        return [Proof("redelivery", None, reason), Proof("full_rebuild", None, reason)]
    try:
        scratch_cm = scratch_warehouse(warehouse, stack.name)
        scratch = scratch_cm.__enter__()
    except Exception as exc:  # e.g. a Postgres user without CREATEDB: the proofs are skipped
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = f"no scratch warehouse to rebuild into ({redact(first, warehouse)})"
        return [Proof("redelivery", None, reason), Proof("full_rebuild", None, reason)]
    try:
        record = run(scratch, RunRequest(stack=stack.name, full_refresh=True))
        if record.status != RunStatus.SUCCEEDED:
            why = (record.error or "no error message was recorded",)
            failed = "the full-refresh run into a scratch warehouse failed"
            return [
                Proof("redelivery", False, failed, why),
                Proof("full_rebuild", False, failed, why),
            ]
        raw, raw_lines = _compare(warehouse, scratch, el, metadata)
        marts, mart_lines = _compare(warehouse, scratch, models, metadata)
    finally:
        scratch_cm.__exit__(None, None, None)
        _forget(spec(scratch), scratch)
    proofs = [_redelivery(el, raw, raw_lines)]
    if not models:
        proofs.append(Proof("full_rebuild", None, "the stack has no transform"))
    elif raw_lines:
        other = "the re-delivered source differs, so a rebuild reads other data"
        proofs.append(Proof("full_rebuild", None, other))
    elif mart_lines:
        proofs.append(
            Proof(
                "full_rebuild",
                False,
                f"incremental != a rebuild from scratch: {_tables(mart_lines)} model "
                "table(s) differ",
                tuple(mart_lines),
            )
        )
    else:
        proofs.append(
            Proof(
                "full_rebuild",
                True,
                f"{len(marts)} model table(s), {_rows(marts):,} rows: incremental == a "
                "rebuild from scratch",
            )
        )
    return proofs


def _forget(stack: StackSpec, scratch: Warehouse) -> None:
    """The tools' local state for the scratch warehouse (a dlt working folder, dbt's target/):
    removed with the scratch, not left to pile up."""
    paths = [p for step in stack.el_steps for p in step.state_paths(scratch)]
    if stack.transform is not None:
        paths += stack.transform.state_paths(scratch)
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def _redelivery(el: tuple[TableRef, ...], raw: Fingerprint, lines: list[str]) -> Proof:
    if not el:
        return Proof("redelivery", None, "the stack has no EL step")
    if lines:
        return Proof(
            "redelivery",
            False,
            f"an EL full refresh gives other data: {_tables(lines)} raw table(s) differ",
            tuple(lines),
        )
    return Proof(
        "redelivery",
        True,
        f"{len(raw)} raw table(s), {_rows(raw):,} rows: an EL full refresh into a scratch "
        "warehouse gives the same data",
    )


def _tables(lines: list[str]) -> int:
    return sum(1 for line in lines if not line.startswith(" "))


def _rows(fp: Fingerprint) -> int:
    return sum(t.rows for t in fp.values())
