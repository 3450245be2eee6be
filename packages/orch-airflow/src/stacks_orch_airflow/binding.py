"""How a task finds its stack and warehouse.

A DAG built by :meth:`AirflowOrchestrator.run` runs in the process that built it (``dag.test()``),
so its tasks hold the step objects and the warehouse (:class:`Bound`). A DAG built from a DAG file
rebuilds them in whichever process runs the task, from the secret-free
:class:`~stacks_contract.models.StackRef` (:class:`FromRef`): the warehouse URL and its password
come from that process's environment, never from the DAG file or Airflow's metadata DB.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from typing import Any

from stacks_contract.models import StackRef, StackSpec
from stacks_contract.ports import Reporter
from stacks_contract.warehouse import Warehouse
from stacks_core.registry import load_stack

__all__ = ["Binding", "Bound", "FromRef", "register_reporter", "reporter_for"]

_LOG = logging.getLogger("stacks.airflow")
_LOCK = threading.Lock()
_REPORTERS: dict[str, Reporter] = {}


class Binding(ABC):
    """The stack a DAG runs, as its tasks see it."""

    @abstractmethod
    def spec(self) -> StackSpec: ...

    @abstractmethod
    def warehouse(self) -> Warehouse: ...


class Bound(Binding):
    """Objects in this process (in-process runs)."""

    def __init__(self, spec: StackSpec, warehouse: Warehouse) -> None:
        self._spec, self._warehouse = spec, warehouse

    def spec(self) -> StackSpec:
        return self._spec

    def warehouse(self) -> Warehouse:
        return self._warehouse


class FromRef(Binding):
    """Rebuilt from a :class:`StackRef`, once per process (the stack's steps are cached objects,
    so dbt's parsed manifest and dlt's pipelines are reused by later tasks in the process)."""

    _cache: dict[str, tuple[Any, StackSpec]] = {}

    def __init__(self, ref: StackRef) -> None:
        self.ref = ref

    def _resolved(self) -> tuple[Any, StackSpec]:
        warehouse = self.ref.resolve_warehouse()
        key = self.ref.model_dump_json() + "\0" + warehouse.model_dump_json()
        with _LOCK:
            hit = self._cache.get(key)
        if hit is None:
            hit = (warehouse, load_stack(self.ref.stack).spec(warehouse))
            with _LOCK:
                self._cache[key] = hit
        return hit

    def spec(self) -> StackSpec:
        return self._resolved()[1]

    def warehouse(self) -> Warehouse:
        return self._resolved()[0]


def register_reporter(run_id: str, report: Reporter | None) -> None:
    """Progress of run ``run_id`` goes to ``report`` (in-process runs); None removes it."""
    with _LOCK:
        if report is None:
            _REPORTERS.pop(run_id, None)
        else:
            _REPORTERS[run_id] = report


def reporter_for(run_id: str) -> Reporter:
    """The registered reporter of ``run_id``, else one that writes to the task's log."""
    with _LOCK:
        found = _REPORTERS.get(run_id)
    if found is not None:
        return found

    def log(step: str, message: str) -> None:
        _LOG.info("[%s] %s", step, message)

    return log
