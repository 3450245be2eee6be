"""The dagster-dlt-dbt stack on a copy of the shop's dbt project whose ``fct_orders`` is the old,
wrong one (``fixtures/old_fct_orders.sql``), run in-process by the Local orchestrator (the bug
is in the model, whichever orchestrator runs it): ``stacks check old_model_stack.py:stack
--advance 3`` must fail."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from stacks_contract.models import StackSpec
from stacks_contract.ports import Orchestrator
from stacks_contract.warehouse import Warehouse
from stacks_dagster_dlt_dbt import DagsterDltDbtStack
from stacks_dagster_dlt_dbt.stack import build_spec
from stacks_demo import SHOP_DBT_PROJECT

OLD_MODEL = Path(__file__).parent / "fixtures" / "old_fct_orders.sql"


def _old_project() -> Path:
    root = Path(os.environ.get("OLD_SHOP_PROJECT") or tempfile.mkdtemp(prefix="old-shop-"))
    project = root / "shop_dbt"
    if not project.exists():
        shutil.copytree(SHOP_DBT_PROJECT, project)
        shutil.copy(OLD_MODEL, project / "models" / "marts" / "fct_orders.sql")
    return project


class OldModelStack(DagsterDltDbtStack):
    name = "old-fct-orders"

    def make_orchestrator(self) -> Orchestrator:
        from stacks_core.local import LocalOrchestrator

        return LocalOrchestrator()

    def build_spec(self, warehouse: Warehouse) -> StackSpec:
        from stacks_transform_dbt import DbtTransform

        spec = build_spec(warehouse)
        dbt = DbtTransform(_old_project(), name="dbt", schema="analytics")
        return spec.model_copy(update={"name": self.name, "transform": dbt, "triggers": ()})


stack = OldModelStack()
