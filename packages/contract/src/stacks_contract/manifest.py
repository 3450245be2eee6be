"""Dependencies and lineage, derived from the table manifest alone."""

from __future__ import annotations

from dataclasses import dataclass

from stacks_contract.errors import ConfigError
from stacks_contract.models import StackSpec, TableRef


@dataclass(frozen=True)
class Plan:
    """``sources``: each table the transform consumes -> the one EL step that produces it."""

    sources: dict[TableRef, str]
    produced_by: dict[TableRef, str]

    def upstream_steps(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.sources.values())))


def plan(stack: StackSpec) -> Plan:
    """Match the transform's consumed tables to EL steps' produced tables.

    Raises :class:`ConfigError` when two steps produce one table, or when the transform reads a
    table no step produces (the stack would silently read stale or missing data).
    """
    produced_by: dict[TableRef, str] = {}
    names = [s.name for s in stack.el_steps]
    if len(set(names)) != len(names):
        raise ConfigError(f"Stack {stack.name!r} has duplicate EL step names: {names}.")
    for step in stack.el_steps:
        for table in step.produces():
            other = produced_by.setdefault(table, step.name)
            if other != step.name:
                raise ConfigError(
                    f"Table {table} is produced by two EL steps ({other!r} and {step.name!r})."
                )
    sources: dict[TableRef, str] = {}
    if stack.transform is not None:
        missing = [t for t in stack.transform.consumes() if t not in produced_by]
        if missing:
            raise ConfigError(
                f"The transform reads {', '.join(map(str, missing))}, which no EL step of "
                f"stack {stack.name!r} produces."
            )
        sources = {t: produced_by[t] for t in stack.transform.consumes()}
    return Plan(sources=sources, produced_by=produced_by)
