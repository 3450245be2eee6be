"""What ``--select X`` means, once, for every orchestrator.

A stack is one graph: EL steps produce tables (:meth:`ELStep.produces`), transform nodes read
tables and other nodes (:meth:`Transform.nodes`). Selectors are written the way dbt users write
them and resolved against that graph before anything runs:

=============  ================================================================================
``X``          exactly X: an EL step, a transform node, a table ``schema.table``, or a bare
               table name when only one table has it
``X+``         X and everything downstream of it
``+X``         X and everything upstream of it (``+X+`` both)
``tag:T``      every transform node tagged T (operators apply: ``tag:T+``)
other          the transform's own syntax (:meth:`Transform.resolve_selector`: dbt's methods,
               wildcards, ``@``, intersections), graph operators applied by the tool; a leading
               ``+`` or ``@`` also selects the EL steps feeding what it resolved to
=============  ================================================================================

Selecting a table selects the EL step that produces it (a step loads as a whole). ``exclude``
removes what its selectors resolve to. A name that matches nothing is a :class:`ConfigError`
naming what exists, raised before any tool starts or any ledger row is written. An
orchestrator renders the :class:`Selection` (its steps and nodes); it never parses selectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.manifest import plan
from stacks_contract.models import StackSpec, TransformNode

__all__ = ["Selection", "edges", "resolve"]

_STEP, _TABLE, _NODE = "step", "table", "node"
#: a leading ``+`` or ``N+`` in dbt's grammar: the selection reaches upstream
_UPSTREAM = re.compile(r"^\d*\+")
#: a name (with dots and graph operators), no method, wildcard or set operator
_PLAIN = re.compile(r"^[@+\d]*[\w.\-]+\+?\d*$")
Node = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class Selection:
    """The resolved selection: which EL steps run and which transform nodes are built."""

    #: EL step names, in the stack's order
    steps: tuple[str, ...]
    #: transform node names, sorted
    models: tuple[str, ...]
    #: nothing was selected or excluded: the whole stack runs
    everything: bool
    #: every node the transform has (to tell "all of them" from a subset)
    all_models: tuple[str, ...] = ()

    @property
    def runs_transform(self) -> bool:
        return bool(self.models)

    def transform_select(self) -> tuple[str, ...]:
        """``request.select`` for the transform: () when every node is built, else the names."""
        return () if set(self.models) >= set(self.all_models) else self.models


class _Graph:
    def __init__(self, spec: StackSpec, warehouse: Any = None) -> None:
        plan(spec)  # ambiguous or missing tables are a ConfigError first
        self.warehouse = warehouse
        self.down: dict[Node, set[Node]] = {}
        self.up: dict[Node, set[Node]] = {}
        self.steps = [s.name for s in spec.el_steps]
        self.tables: dict[str, str] = {}  # "schema.table" -> producing step
        for step in spec.el_steps:
            for table in step.produces():
                self.tables[table.key] = step.name
                self._edge((_STEP, step.name), (_TABLE, table.key))
        self.transform = spec.transform
        nodes: tuple[TransformNode, ...] = spec.transform.nodes() if spec.transform else ()
        self.nodes = {n.name: n for n in nodes}
        self.node_tables = {n.table.key: n.name for n in nodes if n.table is not None}
        for n in nodes:
            self.down.setdefault((_NODE, n.name), set())
            for dep in n.depends_on:
                if dep in self.nodes:
                    self._edge((_NODE, dep), (_NODE, n.name))
                elif dep in self.tables:
                    self._edge((_TABLE, dep), (_NODE, n.name))
                elif dep in self.node_tables:
                    self._edge((_NODE, self.node_tables[dep]), (_NODE, n.name))

    def _edge(self, a: Node, b: Node) -> None:
        self.down.setdefault(a, set()).add(b)
        self.up.setdefault(b, set()).add(a)

    def lookup(self, name: str) -> set[Node]:
        if name.startswith("tag:"):
            tag = name[4:]
            found = {(_NODE, n.name) for n in self.nodes.values() if tag in n.tags}
            if not found:
                raise ConfigError(
                    f"No transform node is tagged {tag!r} (selector {name!r}). {self._known()}"
                )
            return found
        if name in self.steps:
            return {(_STEP, name)}
        if name in self.nodes:
            return {(_NODE, name)}
        if name in self.tables:
            return {(_TABLE, name)}
        if name in self.node_tables:
            return {(_NODE, self.node_tables[name])}
        bare = [t for t in self.tables if t.split(".", 1)[1] == name]
        if len(bare) == 1:
            return {(_TABLE, bare[0])}
        if len(bare) > 1:
            raise ConfigError(
                f"{name!r} names several tables ({', '.join(sorted(bare))}): select one as "
                "schema.table."
            )
        raise ConfigError(f"Nothing named {name!r} to select. {self._known()}")

    def _known(self) -> str:
        parts = [f"EL steps: {', '.join(self.steps) or '-'}"]
        if self.nodes:
            parts.append(f"models: {', '.join(sorted(self.nodes))}")
        parts.append(f"tables: {', '.join(sorted(self.tables)) or '-'}")
        return "Known " + "; ".join(parts) + "."

    def _by_transform(self, selector: str, unknown: ConfigError) -> set[Node] | None:
        """What the transform's own syntax selects; ``None`` if it has none. A plain name it
        does not know either is ``unknown`` (the contract's sentence, naming what exists)."""
        resolver = getattr(self.transform, "resolve_selector", None)
        names = resolver(selector, self.warehouse) if resolver is not None else None
        if names is None:
            return None
        if not names:
            if _PLAIN.match(selector):
                raise unknown
            raise ConfigError(
                f"The selector {selector!r} selects no transform node. {self._known()}"
            )
        return {(_NODE, n) for n in names if n in self.nodes}

    def walk(self, start: Iterable[Node], edges: dict[Node, set[Node]]) -> set[Node]:
        seen: set[Node] = set()
        todo = list(start)
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(edges.get(node, ()))
        return seen

    def select(self, selector: str) -> set[Node]:
        text = selector.strip()
        upstream, downstream = text.startswith("+"), text.endswith("+")
        name = text[1 if upstream else 0 : len(text) - 1 if downstream else len(text)]
        if not name:
            raise ConfigError(f"Empty selector {selector!r}.")
        try:
            base = self.lookup(name)
        except ConfigError as unknown:
            found = None if name.startswith("tag:") else self._by_transform(text, unknown)
            if found is None:
                raise
            if text.startswith("@") or _UPSTREAM.match(text):
                # the tool applied its operators to its nodes; the tables they read, and the
                # EL steps loading them, are the contract's to add
                tables = {p for n in found for p in self.up.get(n, ()) if p[0] == _TABLE}
                found |= tables | {s for t in tables for s in self.up.get(t, ())}
            return found
        out = set(base)
        if downstream:
            out |= self.walk(base, self.down)
        if upstream:
            out |= self.walk(base, self.up)
        return out


def resolve(
    spec: StackSpec,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    warehouse: Any = None,
) -> Selection:
    """Resolve ``select`` minus ``exclude`` against the stack's graph (empty ``select``: all).
    ``warehouse`` (the one the run writes to) is handed to the transform for selectors in its
    own syntax (:meth:`Transform.resolve_selector`).

    Raises :class:`ConfigError` for a name that matches nothing, an ambiguous bare table name,
    or a selection that leaves nothing to run.
    """
    graph = _Graph(spec, warehouse)
    all_models = tuple(sorted(graph.nodes))
    if not select and not exclude:
        return Selection(
            steps=tuple(graph.steps), models=all_models, everything=True, all_models=all_models
        )
    chosen: set[Node] = set()
    if select:
        for s in select:
            chosen |= graph.select(s)
    else:
        chosen = set(graph.down) | set(graph.up)
    excluded: set[Node] = set()
    for s in exclude:
        excluded |= graph.select(s)
    chosen -= excluded
    # a step loads as a whole: excluding one of its tables excludes the step
    dropped = {n for k, n in excluded if k == _STEP} | {
        graph.tables[n] for k, n in excluded if k == _TABLE
    }
    picked_steps = {n for k, n in chosen if k == _STEP}
    picked_steps |= {graph.tables[n] for k, n in chosen if k == _TABLE}
    picked_steps -= dropped
    steps = tuple(s for s in graph.steps if s in picked_steps)
    models = tuple(sorted(n for k, n in chosen if k == _NODE))
    if not steps and not models:
        raise ConfigError(
            f"The selection (select {list(select)}, exclude {list(exclude)}) leaves nothing to run."
        )
    return Selection(steps=steps, models=models, everything=False, all_models=all_models)


def edges(spec: StackSpec) -> list[tuple[Node, Node]]:
    """The stack's graph as ``((kind, name), (kind, name))`` edges, sorted: step -> table (the
    step loads it), table -> node and node -> node (the node reads it). Kinds are ``"step"``,
    ``"table"`` (``schema.table``) and ``"node"`` (a transform node). For plans and diagrams."""
    graph = _Graph(spec)
    return sorted((a, b) for a, targets in graph.down.items() for b in targets)
