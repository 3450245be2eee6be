"""The dbt manifest read as the contract's table manifest: which tables the project reads and
builds, its nodes and their parents (what ``--select`` walks), which models stamp the run id."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import TableRef, TransformNode

from stacks_transform_dbt.results import BUILT_TYPES

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

_PLAIN = re.compile(r"^[A-Za-z0-9_]+$")


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


def is_plain(selector: str) -> bool:
    """A node name, not dbt selector syntax (methods, wildcards, graph operators)."""
    return bool(_PLAIN.match(selector))


def known_names(m: Manifest, project_name: str, select: Sequence[str]) -> list[str]:
    """``select`` for dbt's ``--select``: node names (what the contract resolved the user's
    selectors to) must exist, else a :class:`ConfigError` names the unknown ones; selector
    syntax passes through to dbt."""
    names = {n.name for n in m.nodes.values() if str(n.resource_type) in BUILT_TYPES}
    unknown = [s for s in select if is_plain(s) and s not in names]
    if unknown:
        raise ConfigError(
            f"The dbt project {project_name!r} has no model named {', '.join(map(repr, unknown))}."
        )
    return list(select)


def needed_sources(m: Manifest, select: Sequence[str]) -> set[str]:
    """Unique ids of the sources a build of ``select`` (every node when empty) reads; selector
    syntax is dbt's to resolve (dbt then reports a missing table itself)."""
    nodes = m.nodes
    if any(not is_plain(s) for s in select):
        return set()
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


#: ``meta`` key a project sets on a model whose rows keep history (an append-only log, say)
HISTORY_META = "history_keeping"


def history_keeping(m: Manifest) -> tuple[TableRef, ...]:
    """Snapshots, models whose ``meta`` sets ``history_keeping: true``, and every built node
    downstream of either: their rows depend on earlier runs, not only on today's source."""
    by_id = {uid: n for uid, n in m.nodes.items() if _built(n)}
    keep = {
        uid
        for uid, n in by_id.items()
        if str(n.resource_type) == "snapshot"
        or bool((getattr(n.config, "meta", None) or {}).get(HISTORY_META))
    }
    children: dict[str, set[str]] = {}
    for uid, n in by_id.items():
        for parent in parents(n):
            children.setdefault(parent, set()).add(uid)
    todo = list(keep)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in keep:
                keep.add(child)
                todo.append(child)
    return tuple(sorted({_table(by_id[uid]) for uid in keep}, key=lambda t: t.key))


def incremental(m: Manifest) -> tuple[TableRef, ...]:
    """The models materialized ``incremental``."""
    nodes = [
        n for n in m.nodes.values() if getattr(n.config, "materialized", None) == "incremental"
    ]
    return tuple(sorted({_table(n) for n in nodes}, key=lambda t: t.key))


def seeds_in(m: Manifest, schemas: set[str]) -> list[str]:
    """Seeds that land in one of ``schemas`` (the schema the EL steps load): a seed there can
    replace a raw table an EL step owns."""
    return sorted(
        f"{n.schema}.{n.alias or n.name}"
        for n in m.nodes.values()
        if str(n.resource_type) == "seed" and n.schema.lower() in schemas
    )
