"""Reference steps that meet a fault at a known moment, and count their attempts.

* :class:`RestartingELStep` restarts the warehouse server after it has connected and begun its
  transaction, on its first attempt only: its own statements then fail as a real step's would
  ("terminating connection due to administrator command");
* :class:`RestartingSqlTransform` restarts it after its first model is built, on its first attempt
  only: the next model fails on the lost connection;
* both count every attempt in an :class:`Attempts`, which is what a user sees as "ran N times".

The restart is real (``PostgresServer.restart`` of a cluster the test started itself); nothing is
mocked. An orchestrator that retries transient failures ends such a run ``succeeded``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks_contract.models import RunRequest, StackSpec, TransformResult
from stacks_contract.ports import Reporter, silent
from stacks_contract.warehouse import Warehouse

from stacks_testing.reference import ReferenceELStep, ReferenceSqlTransform, reference_stack

__all__ = [
    "Attempts",
    "RestartingELStep",
    "RestartingSqlTransform",
    "counted_stack",
]


class Attempts:
    """Attempts per step name (thread-safe), and the faults still to inject."""

    def __init__(self, restart: Callable[[], None] | None = None) -> None:
        self.restart = restart
        self.counts: Counter[str] = Counter()
        self.restarts: list[str] = []
        self._lock = threading.Lock()

    def start(self, step: str) -> int:
        """Count an attempt of ``step``; returns its number (1 = first)."""
        with self._lock:
            self.counts[step] += 1
            return self.counts[step]

    def fault(self, step: str) -> None:
        """Restart the server, if ``step`` is on its first attempt and has not restarted it."""
        with self._lock:
            if self.restart is None or self.counts[step] != 1 or step in self.restarts:
                return
            self.restarts.append(step)
        self.restart()


class RestartingELStep(ReferenceELStep):
    """A :class:`ReferenceELStep` whose first attempt loses its connection mid-load."""

    def __init__(self, *args: Any, attempts: Attempts, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attempts = attempts

    def run(self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent) -> Any:
        self.attempts.start(self.name)
        return super().run(request, warehouse, report)

    def _load(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        self.attempts.fault(self.name)  # connected, transaction begun: now the server restarts
        return super()._load(conn, *args, **kwargs)


@dataclass(eq=False)  # identity hashing, as its base
class RestartingSqlTransform(ReferenceSqlTransform):
    """A :class:`ReferenceSqlTransform` whose first attempt loses its connection after the first
    model is built (the next model's statements fail)."""

    attempts: Attempts = field(default_factory=Attempts)

    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> TransformResult:
        self.attempts.start(self.name)

        def hooked(step: str, message: str) -> None:
            report(step, message)
            if message.startswith("built "):
                self.attempts.fault(self.name)

        return super().run(request, warehouse, hooked)


def counted_stack(
    root: str | Path, attempts: Attempts, *, name: str, bad_model: bool = False
) -> StackSpec:
    """The reference stack (same tables and data as :func:`reference_stack`), its ``orders``
    step and its transform counting their attempts; when ``attempts.restart`` is set, each
    restarts the server once, mid-work, on its first attempt. ``bad_model``: a model reads a
    table that does not exist (a permanent SQL error)."""
    plain = reference_stack(root, name=name)
    customers, orders = plain.el_steps
    steps = (
        customers,
        RestartingELStep(
            orders.name,
            orders.source,
            orders.table.name,
            schema=orders.table.schema_name,
            attempts=attempts,
        ),
    )
    transform = plain.transform
    assert isinstance(transform, ReferenceSqlTransform)
    models = transform.models
    if bad_model:
        first = models[0]
        broken = type(first)(first.name, "select * from raw.no_such_table", first.depends_on)
        models = (broken, *models[1:])
    counted = RestartingSqlTransform(
        name=transform.name,
        models=models,
        sources=transform.sources,
        schema=transform.schema,
        tests=transform.tests,
        attempts=attempts,
    )
    return StackSpec(name=name, el_steps=steps, transform=counted)
