"""Harnesses over the reference implementations: the contract's own conformance subjects, and
worked examples for packages writing theirs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from stacks_contract.models import RunRequest, StackSpec, TableRef, Trigger
from stacks_contract.ports import Orchestrator, Transform
from stacks_contract.triggers import evaluate_trigger
from stacks_contract.warehouse import Warehouse
from stacks_core.local import LocalOrchestrator
from stacks_core.sql import connect, qualified

from stacks_testing import reference as ref
from stacks_testing.suites.harness import (
    ELHarness,
    OrchestratorHarness,
    RowChange,
    TransformHarness,
    TriggerHarness,
)

__all__ = [
    "LocalOrchestratorHarness",
    "ReferenceELHarness",
    "ReferenceTransformHarness",
    "ReferenceTriggerHarness",
]


class ReferenceELHarness(ELHarness):
    """A ``customers`` JSON-lines source under ``root``; ``step_class`` picks the (maybe broken)
    implementation."""

    def __init__(self, root: Path, step_class: type[ref.ReferenceELStep] = ref.ReferenceELStep):
        self.paths = ref.seed_sources(root, customers=20, orders=0)
        self.source = ref.ReferenceSource(self.paths["customers"])
        self.step_class = step_class

    def make_step(self) -> ref.ReferenceELStep:
        return self.step_class("customers", self.source.path, "customers")

    def change_one_row(self) -> RowChange:
        self.source.update({"id": 3}, "name", "customer three, renamed")
        return RowChange(
            table=TableRef(schema="raw", name="customers"),
            key={"id": 3},
            column="name",
            new_value="customer three, renamed",
        )

    def step_factory(self) -> str:
        return "stacks_testing.reference:el_step_from_env"

    def subprocess_env(self) -> dict[str, str]:
        return {ref.ENV_STEP: json.dumps(self.make_step().spec())}


class ReferenceTransformHarness(TransformHarness):
    """The reference stack's SQL transform over raw tables loaded by the reference EL steps."""

    def __init__(self, root: Path) -> None:
        self.stack = ref.reference_stack(root)
        assert isinstance(self.stack.transform, ref.ReferenceSqlTransform)
        self.transform: ref.ReferenceSqlTransform = self.stack.transform

    def make_transform(self) -> Transform:
        return ref.ReferenceSqlTransform.from_spec(self.transform.spec())

    def seed(self, warehouse: Warehouse) -> None:
        request = RunRequest(stack="seed")
        for step in self.stack.el_steps:
            step.run(request, warehouse)

    def change_upstream(self, warehouse: Warehouse) -> None:
        with connect(warehouse) as conn:
            conn.execute(
                f"update {qualified('raw', 'orders')} set amount = amount + 500, "
                "updated_at = '2030-01-01T00:00:00Z' where id = 5"
            )

    def add_late_rows(self, warehouse: Warehouse) -> bool:
        """A late order of customer 2, stamped before every order loaded so far."""
        with connect(warehouse) as conn:
            conn.execute(
                f"insert into {qualified('raw', 'orders')} (id, customer_id, amount, status, "
                "updated_at) values (900, 2, 12.5, 'placed', '2023-12-31T00:00:00Z')"
            )
        return True

    def transform_factory(self) -> str:
        return "stacks_testing.reference:transform_from_env"

    def subprocess_env(self) -> dict[str, str]:
        return {ref.ENV_TRANSFORM: json.dumps(self.transform.spec())}


class LocalOrchestratorHarness(OrchestratorHarness):
    no_backfill = "the Local orchestrator has no backfill: a window run is its only way"
    no_dbt = "Local is the reference the other orchestrators' selections are compared with"

    def make_orchestrator(self) -> Orchestrator:
        return LocalOrchestrator(retry_delay=0.2)

    def orchestrator_factory(self) -> str:
        return "stacks_core.local:LocalOrchestrator"


class ReferenceTriggerHarness(TriggerHarness):
    """The contract's reference rendering (:func:`stacks_contract.triggers.evaluate_trigger`)."""

    def fire(
        self, stack: StackSpec, trigger: Trigger, cursor: str | None, now: datetime
    ) -> tuple[list[RunRequest], str | None]:
        return evaluate_trigger(stack, trigger, cursor, now)
