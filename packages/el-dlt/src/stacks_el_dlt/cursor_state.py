"""The cursors of a step's dlt pipeline as the warehouse holds them: shown and reset.

dlt keeps each resource's incremental cursor in the pipeline state, which every load stores in
the warehouse (``_dlt_pipeline_state``). Showing restores that state first (the last committed
load wins over local leftovers); resetting is dlt's own ``pipeline drop --state-only``
(:class:`dlt.pipeline.helpers.pipeline_drop`): the resources' state is dropped and the new state
loaded into the warehouse at once, tables and rows untouched.
"""

from __future__ import annotations

from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import TableRef
from stacks_contract.warehouse import Warehouse

__all__ = ["DltCursors", "read_cursors", "reset_cursors"]


def read_cursors(pipeline: Any) -> dict[str, dict[str, Any]]:
    """resource -> {cursor column: last value} from the warehouse's last committed state."""
    from stacks_el_dlt.names import XMIN

    pipeline.sync_destination()
    out: dict[str, dict[str, Any]] = {}
    for source_state in pipeline.state.get("sources", {}).values():
        for resource, state in (source_state.get("resources") or {}).items():
            for column, cursor in (state.get("incremental") or {}).items():
                if isinstance(cursor, dict) and "last_value" in cursor:
                    name = "xmin" if column == XMIN else column
                    out.setdefault(resource, {})[name] = cursor["last_value"]
    return out


def reset_cursors(pipeline: Any, resources: list[str]) -> list[str]:
    """Drop the state of ``resources`` (all with a cursor when empty); returns those reset."""
    from dlt.pipeline.helpers import pipeline_drop

    have = read_cursors(pipeline)
    chosen = [r for r in (resources or list(have)) if r in have]
    if not chosen:
        return []
    pipeline_drop(pipeline, resources=chosen, state_only=True)()
    return chosen


class DltCursors:
    """:class:`~stacks_contract.ports.CursorState` for a :class:`~stacks_el_dlt.DltStep`, by the
    tables it produces (a resource's cursor is its root table's)."""

    name: str

    def table_resources(self) -> dict[TableRef, str]:  # pragma: no cover - DltStep's
        raise NotImplementedError

    def dlt_pipeline(self, warehouse: Warehouse) -> Any:  # pragma: no cover - DltStep's
        raise NotImplementedError

    def cursors(self, warehouse: Warehouse) -> dict[str, dict[str, Any]]:
        tables = self._root_tables()
        found = read_cursors(self.dlt_pipeline(warehouse))
        return {tables.get(r, r): c for r, c in sorted(found.items())}

    def reset_cursors(self, warehouse: Warehouse, tables: tuple[str, ...] = ()) -> tuple[str, ...]:
        by_table = {t: r for r, t in self._root_tables().items()}
        unknown = [t for t in tables if t not in by_table]
        if unknown:
            raise ConfigError(
                f"Step {self.name!r} has no table {', '.join(map(repr, unknown))} "
                f"(its tables: {', '.join(sorted(by_table))})."
            )
        done = reset_cursors(self.dlt_pipeline(warehouse), [by_table[t] for t in tables])
        names = self._root_tables()
        return tuple(names.get(r, r) for r in done)

    def _root_tables(self) -> dict[str, str]:
        """resource -> the root table it loads (child tables aside)."""
        out: dict[str, str] = {}
        for ref, resource in self.table_resources().items():
            if "__" not in ref.name:
                out.setdefault(resource, ref.name)
        return out
