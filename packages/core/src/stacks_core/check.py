"""What ``stacks check`` proves beyond "N runs leave what 1 run left".

After the N runs, the stack runs once more with ``full_refresh`` (every EL step re-delivers its
whole source, every model is rebuilt from nothing) into a scratch warehouse of the same engine
(:mod:`stacks_core.scratch`). The user's warehouse and its ledger are not touched. Then, table by
table (load metadata ignored, :func:`~stacks_core.fingerprint.fingerprint`):

* **re-delivery**: the EL steps' tables in the scratch warehouse equal the incrementally loaded
  ones (a source re-delivered from scratch converges to the same data: no lost update, no
  deleted source row kept forever);
* **full rebuild**: the transform's tables equal the incrementally maintained ones (incremental
  models == a rebuild from scratch). Only conclusive when re-delivery holds (otherwise the
  rebuild read other raw data) and when new source data reached an incremental model through
  its incremental path during the runs (:class:`~stacks_core.incremental.IncrementalWatch`):
  otherwise "not proved", with what to do. Tables that keep history
  (:meth:`Transform.history_keeping`, dbt snapshots) are left out and named. An EL step that
  writes where its own engine points (:attr:`ELStep.fixed_destination`) cannot re-deliver into
  the scratch warehouse: its tables are copied there and only the transform is rebuilt.

Tool-free: everything goes through the ports (the stack's orchestrator runs the scratch run).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stacks_contract.models import (
    RunRecord,
    RunRequest,
    RunStatus,
    StackSpec,
    TableRef,
    utcnow,
)
from stacks_contract.warehouse import Warehouse, redact

from stacks_core.fingerprint import Fingerprint, diff, fingerprint, row_diff
from stacks_core.incremental import IncrementalWatch
from stacks_core.scratch import (
    copy_tables,
    scratch_dir,
    scratch_target,
    scratch_warehouse,
)
from stacks_core.sql import connect

__all__ = [
    "Proof",
    "rebuild_proofs",
    "scratch_dir",
    "scratch_target",
    "scratch_warehouse",
    "unproved",
]

#: rows shown per side for a table whose content differs
SAMPLE_ROWS = 3
#: the two proofs after idempotence
REBUILD_PROOFS = ("redelivery", "full_rebuild")


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


def unproved(reason: str, names: Iterable[str] = REBUILD_PROOFS) -> list[Proof]:
    """``names`` not proved, for one ``reason``."""
    return [Proof(name, None, reason) for name in names]


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
    watch: IncrementalWatch,
    hint: str = "",
) -> list[Proof]:
    """Run the stack with ``full_refresh`` into a scratch warehouse (``run(scratch, request)``)
    and compare it with ``warehouse``: the re-delivery proof, then the full-rebuild proof.
    ``watch`` followed the runs (did new data reach an incremental model?); ``hint`` says how
    to make it reach one (appended to "not proved")."""
    stack = spec(warehouse)
    el = tuple(t for step in stack.el_steps for t in step.produces())
    transform = stack.transform
    history = set(transform.history_keeping()) if transform is not None else set()
    produced = transform.produces() if transform is not None else ()
    models = tuple(t for t in produced if t not in history)
    fixed = [step.name for step in stack.el_steps if step.fixed_destination]
    if fixed and transform is None:
        return unproved(_fixed(fixed))
    try:
        scratch_cm = scratch_warehouse(warehouse, stack.name)
        scratch = scratch_cm.__enter__()
    except Exception as exc:  # e.g. a Postgres user without CREATEDB: the proofs are skipped
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return unproved(f"no scratch warehouse to rebuild into ({redact(first, warehouse)})")
    try:
        if fixed:  # a full refresh would write into the real warehouse: copy its raw tables
            copy_tables(warehouse, scratch, _existing(warehouse, el))
            record = _rebuild_models(spec(scratch), scratch)
        else:
            record = run(scratch, RunRequest(stack=stack.name, full_refresh=True))
        if record.status != RunStatus.SUCCEEDED:
            why = (record.error or "no error message was recorded",)
            failed = "the full-refresh run into a scratch warehouse failed"
            return [Proof(name, False, failed, why) for name in REBUILD_PROOFS]
        raw, raw_lines = _compare(warehouse, scratch, el, metadata)
        marts, mart_lines = _compare(warehouse, scratch, models, metadata)
    finally:
        scratch_cm.__exit__(None, None, None)
        _forget(spec(scratch), scratch)
    if fixed:
        redelivery = Proof("redelivery", None, _fixed(fixed) + " (the rebuild read a copy)")
    else:
        redelivery = _redelivery(el, raw, raw_lines)
    return [redelivery, _full_rebuild(models, history, marts, mart_lines, raw_lines, watch, hint)]


def _full_rebuild(
    models: tuple[TableRef, ...],
    history: set[TableRef],
    marts: Fingerprint,
    lines: list[str],
    raw_lines: list[str],
    watch: IncrementalWatch,
    hint: str,
) -> Proof:
    kept = ""
    if history:
        names = ", ".join(sorted(t.key for t in history))
        kept = f"; not proved for {len(history)} snapshot(s): history cannot be rebuilt ({names})"
    if not models:
        nothing = "the stack has no transform" if not history else "no model but snapshots"
        return Proof("full_rebuild", None, nothing + kept)
    if raw_lines:
        other = "the re-delivered source differs, so a rebuild reads other data"
        return Proof("full_rebuild", None, other + kept)
    if lines:
        return Proof(
            "full_rebuild",
            False,
            f"incremental != a rebuild from scratch: {_tables(lines)} model table(s) differ" + kept,
            tuple(lines),
        )
    if not watch.models:
        return Proof(
            "full_rebuild",
            None,
            "no model is maintained incrementally (the transform names none), so a rebuild "
            "from scratch is what every run does" + kept,
        )
    reached = watch.summary()
    if not reached:
        names = ", ".join(m.name for m in watch.models)
        why = (
            f"no new data reached an incremental model ({names}) between the runs, so the "
            "rebuild equals what a first build gives whatever the incremental path does"
        )
        return Proof("full_rebuild", None, why + (f"; {hint}" if hint else "") + kept)
    return Proof(
        "full_rebuild",
        True,
        f"{len(marts)} model table(s), {_rows(marts):,} rows: incremental == a rebuild from "
        f"scratch, after new source data took the incremental path ({reached})" + kept,
    )


def _fixed(steps: list[str]) -> str:
    return (
        f"EL step {', '.join(map(repr, steps))} writes where its engine's connection points, "
        "not into a scratch warehouse"
    )


def _rebuild_models(stack: StackSpec, scratch: Warehouse) -> RunRecord:
    """Only the transform, from scratch, through its port (no orchestrator: it would run the EL
    steps too, and those write into the real warehouse)."""
    request = RunRequest(stack=stack.name, full_refresh=True)
    started = utcnow()
    assert stack.transform is not None
    try:
        result = stack.transform.run(request, scratch)
    except Exception as exc:
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return RunRecord.from_results(
            request, stack=stack.name, orchestrator="check", started_at=started, error=error
        )
    return RunRecord.from_results(
        request,
        stack=stack.name,
        orchestrator="check",
        started_at=started,
        transform=result,
        transform_step=stack.transform.name,
    )


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
