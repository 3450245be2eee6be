"""The secret-free stack reference a worker rebuilds a run's steps from, and its resolver.

A workflow's history carries only the reference (stack entry-point name, a warehouse URL without
password, the name of the environment variable holding the real one): the worker process turns it
back into steps and a warehouse with credentials (:class:`StackResolver`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import SecretStr
from stacks_contract.models import StackRef, StackSpec
from stacks_contract.ports import Reporter, silent
from stacks_contract.warehouse import (
    SECRET_PARAMS,
    DuckDBWarehouse,
    PostgresWarehouse,
    Warehouse,
)
from stacks_core.registry import load_stack

__all__ = ["StackRef", "StackResolver", "public_url", "stack_ref"]


def public_url(warehouse: Warehouse) -> str:
    """The warehouse as a URL without its password (what a reference may carry)."""
    if isinstance(warehouse, PostgresWarehouse):
        public = {k: v for k, v in warehouse.params.items() if k not in SECRET_PARAMS}
        bare = warehouse.model_copy(update={"password": SecretStr(""), "params": public})
        return bare.redacted_url()
    if isinstance(warehouse, DuckDBWarehouse):
        return warehouse.redacted_url()
    raise ValueError(f"no secret-free URL for a {warehouse.kind} warehouse")


def stack_ref(
    stack: str, warehouse: Warehouse, warehouse_env: str = "STACKS_WAREHOUSE"
) -> StackRef:
    return StackRef(stack=stack, warehouse=public_url(warehouse), warehouse_env=warehouse_env)


class StackResolver:
    """Turns a reference back into steps and a warehouse, in the worker process.

    A worker for installed stacks needs nothing: the stack comes from its entry point, the
    warehouse from ``ref.warehouse_env`` (or the password-free URL). An in-process run registers
    the spec object and the warehouse it was given, so a stack that is not installed (a test's)
    and a password that is in no environment variable never reach the workflow's history.
    """

    def __init__(
        self,
        specs: Mapping[str, StackSpec] | None = None,
        warehouses: Iterable[Warehouse] = (),
        report: Reporter = silent,
    ) -> None:
        self._specs = dict(specs or {})
        self._warehouses = {public_url(w): w for w in warehouses}
        self._cache: dict[tuple[str, str], StackSpec] = {}
        self.report = report

    def warehouse(self, ref: StackRef) -> Warehouse:
        given = self._warehouses.get(ref.warehouse or "")
        return given if given is not None else ref.resolve_warehouse()

    def spec(self, ref: StackRef, warehouse: Warehouse) -> StackSpec:
        if ref.stack in self._specs:
            return self._specs[ref.stack]
        key = (ref.stack, warehouse.model_dump_json())
        if key not in self._cache:
            self._cache[key] = load_stack(ref.stack).spec(warehouse)
        return self._cache[key]
