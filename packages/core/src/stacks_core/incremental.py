"""Did new source data reach an incremental model through its incremental path?

A full rebuild equal to the incrementally maintained tables proves something only when an
incremental model actually ran incrementally over new data: on a fresh warehouse (its first run
builds everything from scratch) or an unchanged source (every later run is a no-op) the two are
equal whatever the model's incremental logic does. :class:`IncrementalWatch` follows ``stacks
check``'s runs and says which incremental models (:meth:`Transform.incremental`) existed before a
run in which a source table upstream of them changed content (row fingerprints, so an EL that
rewrites the same rows does not count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from stacks_contract.models import RunRecord, RunStatus, StackSpec, TableRef
from stacks_contract.warehouse import Warehouse

from stacks_core.fingerprint import Fingerprint, fingerprint
from stacks_core.sql import connect

__all__ = ["IncrementalWatch", "upstream_sources"]


def upstream_sources(spec: StackSpec, model: TableRef) -> set[str]:
    """The keys (``schema.table``) of the transform's source tables ``model`` reads, directly
    or through other models (:meth:`Transform.nodes`)."""
    transform = spec.transform
    if transform is None:
        return set()
    sources = {t.key for t in transform.consumes()}
    nodes = {n.name: n for n in transform.nodes()}
    by_table = {n.table.key: n.name for n in nodes.values() if n.table is not None}
    found: set[str] = set()
    todo = [by_table.get(model.key, model.key)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in sources:
            found.add(name)
        node = nodes.get(name)
        if node is not None:
            todo += list(node.depends_on)
    return found


class IncrementalWatch:
    """Create it before the first run, call :meth:`after` with each run's record."""

    def __init__(self, spec: StackSpec, warehouse: Warehouse, metadata: Iterable[str]) -> None:
        self.warehouse = warehouse
        self.metadata = tuple(metadata)
        transform = spec.transform
        self.models: tuple[TableRef, ...] = transform.incremental() if transform else ()
        self.upstream = {m.key: upstream_sources(spec, m) for m in self.models}
        self.sources = sorted(set().union(*self.upstream.values()) if self.upstream else ())
        present = self._present()
        self.built = {m.key for m in self.models if m.key in present}
        self.before: Fingerprint = self._fingerprint(present) if self.models else {}
        #: model key -> runs in which new source data reached it incrementally
        self.reached: Counter[str] = Counter()

    def _present(self) -> set[str]:
        with connect(self.warehouse) as conn:
            return {f"{s}.{t}" for s, t in conn.tables()}

    def _fingerprint(self, present: set[str]) -> Fingerprint:
        refs = [TableRef.parse(k) for k in self.sources if k in present]
        return fingerprint(self.warehouse, refs, metadata=self.metadata)

    def after(self, record: RunRecord) -> None:
        """Account for one finished run (a full-refresh or failed run reaches nothing)."""
        if not self.models or record.status != RunStatus.SUCCEEDED:
            return
        wrote = any(record.rows.get(k, 0) > 0 for k in self.sources)
        if wrote or not record.rows:  # no rows reported: ask the tables themselves
            present = self._present()
            now = self._fingerprint(present)
            changed = {k for k in self.sources if now.get(k) != self.before.get(k)}
            self.before = now
            for model in self.built:
                if self.upstream[model] & changed:
                    self.reached[model] += 1
        self.built = {m.key for m in self.models}  # a successful run built every model

    def summary(self) -> str:
        """``fct_orders in 3 run(s)``, or ``""`` when nothing was reached."""
        return ", ".join(f"{TableRef.parse(k).name} in {n} run(s)" for k, n in self.reached.items())
