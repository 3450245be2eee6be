"""Warehouse-state checks shared by the suites."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from stacks_contract.models import TableRef, new_run_id
from stacks_contract.warehouse import Warehouse
from stacks_core.fingerprint import Fingerprint, diff, fingerprint
from stacks_core.sql import connect, qualified, quote_ident

from stacks_testing.runner import SubprocessRun, run_and_kill, warehouse_to_env

RUN_ID_COLUMN = "_stacks_run_id"
SEED_ENV = "STACKS_SUITE_SEED"


def existing(warehouse: Warehouse, tables: Iterable[TableRef]) -> list[TableRef]:
    with connect(warehouse) as conn:
        present = set(conn.tables())
    return [t for t in tables if (t.schema_name, t.name) in present]


def missing(warehouse: Warehouse, tables: Iterable[TableRef]) -> list[TableRef]:
    found = set(existing(warehouse, tables))
    return [t for t in tables if t not in found]


def fp(
    warehouse: Warehouse, tables: Iterable[TableRef], metadata: Iterable[str] = ()
) -> Fingerprint:
    """Fingerprint of those of ``tables`` that exist (a missing one shows up in the diff);
    ``metadata``: the columns the implementation under test declares as load metadata."""
    return fingerprint(warehouse, existing(warehouse, list(tables)), metadata=metadata)


def explain(a: Fingerprint, b: Fingerprint) -> str:
    return "\n  ".join(diff(a, b)) or "(equal)"


def counts(warehouse: Warehouse, tables: Iterable[TableRef]) -> dict[str, int]:
    with connect(warehouse) as conn:
        return {t.key: conn.count(t.schema_name, t.name) for t in tables}


def duplicate_rows(warehouse: Warehouse, tables: Iterable[TableRef]) -> None:
    """Insert a copy of every row of ``tables`` (a warehouse drifted away from its source)."""
    with connect(warehouse) as conn:
        for t in tables:
            src = qualified(t.schema_name, t.name)
            conn.execute(f"insert into {src} select * from {src}")


def run_id_problems(
    warehouse: Warehouse, tables: Iterable[TableRef], expected: str | None
) -> list[str]:
    """Per table: no run-id column, NULL run ids, or (``expected`` given) other run ids."""
    problems = []
    with connect(warehouse) as conn:
        for t in tables:
            if RUN_ID_COLUMN not in conn.columns(t.schema_name, t.name):
                problems.append(f"{t}: no {RUN_ID_COLUMN} column")
                continue
            src, col = qualified(t.schema_name, t.name), quote_ident(RUN_ID_COLUMN)
            nulls = conn.execute(f"select count(*) from {src} where {col} is null")[0][0]
            if nulls:
                problems.append(f"{t}: {nulls} rows with a NULL {RUN_ID_COLUMN}")
            if expected is not None:
                other = conn.execute(
                    f"select {col}, count(*) from {src} where {col} <> ? group by {col}",
                    [expected],
                )
                if other:
                    shown = ", ".join(f"{v!r} x{n}" for v, n in other[:3])
                    problems.append(f"{t}: rows stamped {shown}, expected {expected!r}")
    return problems


def rows_with_run_id(warehouse: Warehouse, tables: Iterable[TableRef], run_id: str) -> dict:
    out = {}
    with connect(warehouse) as conn:
        for t in tables:
            if RUN_ID_COLUMN in conn.columns(t.schema_name, t.name):
                n = conn.execute(
                    f"select count(*) from {qualified(t.schema_name, t.name)} "
                    f"where {quote_ident(RUN_ID_COLUMN)} = ?",
                    [run_id],
                )[0][0]
                if n:
                    out[t.key] = int(n)
    return out


def select_by_key(
    warehouse: Warehouse, table: TableRef, key: Mapping[str, Any], column: str
) -> list[Any]:
    where = " and ".join(f"{quote_ident(k)} = ?" for k in key)
    with connect(warehouse) as conn:
        rows = conn.execute(
            f"select {quote_ident(column)} from {qualified(table.schema_name, table.name)} "
            f"where {where}",
            list(key.values()),
        )
    return [r[0] for r in rows]


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
    if isinstance(v, datetime):
        return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float | Decimal):
        return float(v)
    return v


def same_value(a: Any, b: Any) -> bool:
    """Equal up to representation: 12 == 12.0 == Decimal('12'); ISO strings == datetimes."""
    if a == b:
        return True
    na, nb = _norm(a), _norm(b)
    if isinstance(na, float) and isinstance(nb, float):
        return abs(na - nb) <= 1e-9 * max(1.0, abs(na), abs(nb))
    return na == nb or str(a) == str(b)


# --- SIGKILL convergence ------------------------------------------------------------------------


def kill_seed() -> int:
    raw = os.environ.get(SEED_ENV)
    return int(raw) if raw else random.SystemRandom().randrange(1, 1_000_000)


def check_interrupted_converges(
    *,
    command: Callable[[str], Sequence[str]],
    env: Mapping[str, str],
    interrupted: Warehouse,
    reference: Warehouse,
    rerun: Callable[[Warehouse], object],
    tables: Callable[[], Sequence[TableRef]],
    logs: Path,
    points: int,
    metadata: Iterable[str] = (),
    after_kill: Callable[[str, Warehouse], None] | None = None,
) -> None:
    """The SIGKILL check, for any layer.

    1. an uninterrupted run in a subprocess on ``reference`` gives the target fingerprint and the
       run's duration D (from READY to exit);
    2. ``points`` runs on ``interrupted``, each SIGKILLed at a seeded random time in
       [0.05 D, 0.95 D] after READY (one after another, so partial states pile up);
    3. ``rerun`` (in-process) on ``interrupted``; its fingerprint must equal the target.

    ``after_kill(run_id, warehouse)`` runs after each kill: a step whose work a remote engine
    does cancels that work there (:meth:`ELStep.cancel`), as a user's re-run would.
    """
    metadata = tuple(metadata)
    seed = kill_seed()
    print(f"SIGKILL convergence: seed {seed} (set {SEED_ENV}={seed} to replay)")
    logs.mkdir(parents=True, exist_ok=True)
    ref = run_and_kill(
        command(new_run_id()), {**env, **warehouse_to_env(reference)}, None, log=logs / "ref.log"
    )
    assert ref.finished, f"the uninterrupted subprocess run failed:\n{ref.output[-3000:]}"
    target = fp(reference, tables(), metadata)
    duration = ref.run_seconds or 0.0
    rng = random.Random(seed)
    delays = [round(rng.uniform(0.05, 0.95) * duration, 4) for _ in range(points)]
    outcomes: list[tuple[float, SubprocessRun]] = []
    for i, delay in enumerate(delays):
        run_id = new_run_id()
        run = run_and_kill(
            command(run_id),
            {**env, **warehouse_to_env(interrupted)},
            delay,
            log=logs / f"kill{i}.log",
        )
        # a run that outlived its kill time must have succeeded, not crashed on the mess
        assert run.killed or run.returncode == 0, (
            f"seed {seed}: run {i} (kill at {delay}s) failed on its own:\n{run.output[-3000:]}"
        )
        outcomes.append((delay, run))
        if run.killed and after_kill is not None:
            after_kill(run_id, interrupted)
    rerun(interrupted)
    got = fp(interrupted, tables(), metadata)
    story = (
        ", ".join(f"{d}s:{'killed' if r.killed else 'finished'}" for d, r in outcomes)
        + f" (uninterrupted run took {duration:.3f}s)"
    )
    print(f"kill points: {story}")
    assert got == target, (
        f"seed {seed}; kills {story}; after the re-run the warehouse differs from an "
        f"uninterrupted run:\n  {explain(target, got)}"
    )
