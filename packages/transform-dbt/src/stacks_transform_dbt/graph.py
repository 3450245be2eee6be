"""The dbt manifest read as the contract's table manifest: which tables the project reads and
builds, its nodes and their parents (what ``--select`` walks), which models stamp the run id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import TableRef, TransformNode

from stacks_transform_dbt.results import BUILT_TYPES

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest


def parents(node: Any) -> list[str]:
    """Unique ids of the nodes ``node`` depends on; a seed's ``depends_on`` has macros only."""
    return list(getattr(node.depends_on, "nodes", []))


def _built(n: Any) -> bool:
    return (
        str(n.resource_type) in BUILT_TYPES
        and getattr(n.config, "materialized", None) != "ephemeral"
    )


def _table(n: Any) -> TableRef:
    return TableRef(schema=n.schema, name=n.alias or n.name)


def node_index(manifest: Manifest) -> dict[str, Any]:
    """The few node fields :func:`~stacks_transform_dbt.results.translate` reads, straight from
    the in-memory manifest."""

    def entry(n: Any) -> dict[str, Any]:
        return {
            "name": n.name,
            "resource_type": str(n.resource_type),
            "schema": getattr(n, "schema", None),
            "alias": getattr(n, "alias", None),
            "attached_node": getattr(n, "attached_node", None),
            "tested_node_unique_id": getattr(n, "tested_node_unique_id", None),
            "depends_on": {"nodes": parents(n)},
        }

    return {
        "nodes": {uid: entry(n) for uid, n in manifest.nodes.items()},
        "unit_tests": {uid: entry(n) for uid, n in getattr(manifest, "unit_tests", {}).items()},
    }


def declare(m: Manifest) -> tuple[tuple[TableRef, ...], tuple[TableRef, ...]]:
    """(tables read: every source that no node builds, tables built: every model, seed and
    snapshot that is not ephemeral)."""
    produced = sorted({_table(n) for n in m.nodes.values() if _built(n)}, key=lambda t: t.key)
    consumed = sorted(
        {TableRef(schema=s.schema, name=s.identifier) for s in m.sources.values()} - set(produced),
        key=lambda t: t.key,
    )
    return tuple(consumed), tuple(produced)


def transform_nodes(m: Manifest) -> tuple[TransformNode, ...]:
    """Every model, seed and snapshot with its parents (nodes, or sources as tables) and tags."""
    by_id = {uid: n for uid, n in m.nodes.items() if _built(n)}
    out = []
    for n in by_id.values():
        deps = []
        for parent in parents(n):
            if parent in by_id:
                deps.append(by_id[parent].name)
            elif parent in m.sources:
                src = m.sources[parent]
                deps.append(f"{src.schema}.{src.identifier}")
        out.append(
            TransformNode(
                name=n.name,
                table=_table(n),
                depends_on=tuple(sorted(set(deps))),
                tags=tuple(sorted(n.tags)),
            )
        )
    return tuple(sorted(out, key=lambda x: x.name))


def stamped(m: Manifest, run_id_var: str) -> tuple[TableRef, ...]:
    """The built nodes whose SQL uses the ``run_id_var`` var (so their rows carry it)."""
    return tuple(
        sorted(
            (
                _table(n)
                for n in m.nodes.values()
                if _built(n) and run_id_var in (getattr(n, "raw_code", "") or "")
            ),
            key=lambda t: t.key,
        )
    )


def known_names(m: Manifest, project_name: str, select: Sequence[str]) -> list[str]:
    """``select`` when every entry names a node (the contract resolved the user's selectors
    already), else a :class:`ConfigError` naming the unknown ones."""
    names = {n.name for n in m.nodes.values() if str(n.resource_type) in BUILT_TYPES}
    unknown = [s for s in select if s not in names]
    if unknown:
        raise ConfigError(
            f"The dbt project {project_name!r} has no model named {', '.join(map(repr, unknown))}."
        )
    return list(select)


def needed_sources(m: Manifest, select: Sequence[str]) -> set[str]:
    """Unique ids of the sources a build of ``select`` (every node when empty) reads."""
    nodes = m.nodes
    if not select:
        run = set(nodes)
    else:
        wanted = set(select)
        run = {uid for uid, n in nodes.items() if n.name in wanted}
        # a model's tests read the model's parents too
        run |= {
            uid
            for uid, n in nodes.items()
            if str(n.resource_type) == "test" and set(parents(n)) & run
        }
    return {p for uid in run for p in parents(nodes[uid]) if p.startswith("source.")}
