"""A window run (``stacks run --backfill``, ``RunRequest.window``) of a SQL step.

dlt's own backfill: each chosen table's incremental gets the window as ``initial_value`` and
``end_value`` (half-open, like the contract's :class:`~stacks_contract.models.Window`); with an
``end_value`` dlt reads that range and leaves the stored cursor as it was. Rows merge on their
key, so a window already loaded is re-delivered without duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import RunRequest

from stacks_el_dlt.names import XMIN

__all__ = ["read_window"]


def read_window(step: Any, source: Any, request: RunRequest) -> list[str]:
    """Point ``source`` at ``request.window`` for the tables ``request.select`` names among the
    step's (all of them when it names none); returns a line per table."""
    import dlt

    window = request.window
    assert window is not None
    named = _named(step, request.select)
    lines: list[str] = []
    chosen = []
    for plan in step.last_plans:
        if named and plan.table not in named:
            continue
        if plan.cursor in (None, XMIN) or plan.cursor_kind == "number":
            why = "it has no timestamp or date cursor column"
            if named:
                raise ConfigError(f"Cannot backfill {plan.table!r} by time: {why}.")
            lines.append(f"{plan.kind} {plan.table}: not backfilled ({why})")
            continue
        start, end = (_bound(b, plan.cursor_kind) for b in (window.start, window.end))
        source.resources[plan.table].apply_hints(
            incremental=dlt.sources.incremental(
                plan.cursor,
                initial_value=start,
                end_value=end,
                range_start="closed",
                range_end="open",
                primary_key=(),
                on_cursor_value_missing="exclude",
            )
        )
        chosen.append(plan.table)
        lines.append(
            f"{plan.kind} {plan.table}: backfilled {plan.cursor} in [{window.start.isoformat()}, "
            f"{window.end.isoformat()}); its cursor is unchanged"
        )
    if not chosen:
        raise ConfigError(f"Step {step.name!r} has no table a time window can select.")
    source.with_resources(*chosen)
    return lines


def _named(step: Any, select: tuple[str, ...]) -> set[str]:
    """Source tables of ``step`` that ``select`` names (``schema.table`` or a bare name)."""
    names = step.source_table_names()
    out = set()
    for selector in select:
        bare = selector.split(".", 1)[1] if selector.startswith(f"{step.dataset}.") else selector
        out |= {source for source, table in names.items() if table == bare}
    return out


def _bound(value: datetime, kind: str) -> Any:
    if kind == "date":
        return value.astimezone(UTC).date()
    if kind == "timestamp":
        return value.astimezone(UTC).replace(tzinfo=None)  # a naive cursor is read as UTC
    return value
