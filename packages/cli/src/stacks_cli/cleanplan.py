"""What ``stacks clean NAME -w X`` may remove: NAME's state for X, what it shares with other
stacks (removed under their run locks too), what every warehouse shares (kept unless asked), a
scratch database a killed ``stacks check`` left, and which of it another process holds open."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from glob import escape as glob_escape
from pathlib import Path

from stacks_contract.ports import Stack
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

__all__ = ["CleanPlan", "in_use", "local_state", "plan_clean"]

#: a warehouse no stack runs on: what a stack keeps for it and for the real one alike is state
#: of every warehouse (an orchestrator's home, a dev server's history)
_PROBE = Path("/nonexistent-stacks-probe/probe.duckdb")


def local_state(stack: Stack, warehouse: Warehouse) -> list[Path]:
    """Everything local ``stack`` keeps for ``warehouse``, existing or not: its tools' state
    (:meth:`Stack.state_paths`), the same for the scratch warehouse of ``stacks check``, check's
    scratch folder and the run-lock file beside a DuckDB file."""
    from stacks_core.runlock import lock_path
    from stacks_core.scratch import scratch_dir, scratch_target

    paths = [*stack.state_paths(warehouse)]
    paths += stack.state_paths(scratch_target(warehouse, stack.name))
    if isinstance(warehouse, DuckDBWarehouse):
        paths += [scratch_dir(warehouse, stack.name), lock_path(warehouse, stack.name)]
    return list(dict.fromkeys(p.absolute() for p in paths))


@dataclass
class CleanPlan:
    """``paths``: what goes (NAME's state for the warehouse); ``sharers``: the stacks running
    into the warehouse whose state includes some of it (cleaning is refused while they run);
    ``kept``: state of every warehouse, left unless ``--shared``; ``scratch``: the name of a
    Postgres scratch database of ``stacks check`` that is there."""

    paths: list[Path]
    sharers: dict[str, list[Path]] = field(default_factory=dict)
    kept: list[Path] = field(default_factory=list)
    scratch: str | None = None


def plan_clean(stack: Stack, warehouse: Warehouse, *, shared: bool) -> CleanPlan:
    from stacks_core.registry import load_stack
    from stacks_core.scratch import scratch_exists, scratch_target

    mine = local_state(stack, warehouse)
    probe = DuckDBWarehouse(path=_PROBE, schema=warehouse.schema_)
    everywhere = set(local_state(stack, probe)) & set(mine)
    paths = [p for p in mine if shared or p not in everywhere]
    sharers: dict[str, list[Path]] = {}
    for other in running(warehouse):
        if other == stack.name:
            continue
        try:  # an installed stack that does not load is using nothing of ours
            theirs = set(local_state(load_stack(other), warehouse))
        except Exception:
            continue
        common = [p for p in paths if p in theirs]
        if common:
            sharers[other] = common
    scratch = None
    if isinstance(warehouse, PostgresWarehouse) and scratch_exists(warehouse, stack.name):
        target = scratch_target(warehouse, stack.name)
        assert isinstance(target, PostgresWarehouse)
        scratch = target.database
    kept = [p for p in mine if p in everywhere and not shared]
    return CleanPlan(paths=paths, sharers=sharers, kept=kept, scratch=scratch)


def running(warehouse: Warehouse) -> list[str]:
    """The stacks running into ``warehouse`` now (holding their run lock): lock files beside a
    DuckDB file, live lease rows on Postgres. Only those can be using shared state."""
    from stacks_core.runlock import held

    if isinstance(warehouse, DuckDBWarehouse):
        prefix = f"{warehouse.path.name}."
        names = [
            p.name[len(prefix) : -len(".lock")]
            for p in warehouse.path.parent.glob(f"{glob_escape(prefix)}*.lock")
        ]
        return sorted(n for n in names if held(warehouse, n))
    from stacks_core.lease import LEASE_SCHEMA, LEASE_TABLE, Holder
    from stacks_core.sql import connect

    with connect(warehouse) as conn:
        if not conn.table_exists(LEASE_SCHEMA, LEASE_TABLE):
            return []
        rows = conn.execute(
            "select stack, token, run_id, since, heartbeat_at, process, expires_at > now() "
            f"from {LEASE_SCHEMA}.{LEASE_TABLE}"
        )
    return sorted({r[0] for r in rows if Holder(*r[1:]).alive})


def in_use(paths: list[Path]) -> dict[Path, int]:
    """Each path another running process holds a file open under, with that process's id
    (Linux: asks /proc; where there is none, nothing is found)."""
    found: dict[Path, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = Path(os.readlink(fd))
                    for path in paths:
                        if target == path or path in target.parents:
                            found.setdefault(path, int(proc.name))
    return found
