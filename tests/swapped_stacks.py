"""Stacks composed in user code: the shop stack (dlt -> dbt) with its orchestrator swapped.

A user runs one with a reference instead of an installed name, e.g.
``stacks run tests/swapped_stacks.py:airflow_dlt_dbt``. The steps are the temporal-dlt-dbt
stack's (the same dlt source and dbt project every shop stack uses); only the orchestrator
differs, and so only ``make_orchestrator()`` (and the name) is overridden.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from stacks_contract.models import StackSpec
from stacks_contract.ports import Orchestrator
from stacks_contract.warehouse import Warehouse
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_temporal_dlt_dbt.stack import SHOP_SEED, TemporalDltDbtStack, build_spec


class AirflowDltDbt(TemporalDltDbtStack):
    """dlt (shop API -> raw) -> dbt through Cosmos, one Airflow DAG run per run."""

    name = "airflow-dlt-dbt"
    description = "dlt from the demo shop API -> dbt (Cosmos) -> an Airflow 3 DAG."

    def make_orchestrator(self) -> Orchestrator:
        from stacks_orch_airflow import AirflowOrchestrator

        return AirflowOrchestrator()

    def build_spec(self, warehouse: Warehouse) -> StackSpec:
        return build_spec(warehouse).model_copy(update={"name": self.name})

    @contextlib.contextmanager
    def session(self, warehouse: Warehouse) -> Iterator[None]:
        from stacks_demo.shop import shop_running

        with shop_running(SHOP_URL_ENV, seed=SHOP_SEED):
            yield

    def hints(self, warehouse: Warehouse) -> list[str]:
        return []


def airflow_dlt_dbt() -> AirflowDltDbt:
    return AirflowDltDbt()
