"""The orchestrator conformance suite, run through Airflow (dag.test) on DuckDB and Postgres; its
backfill check through Airflow's own backfill, which the scheduler runs (``airflow_suite_backfill``:
the services start once for this module, on the first backfill)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: the helper beside us
from airflow_prod_services import stopped_on_sigterm
from airflow_suite_backfill import SuiteServices
from stacks_contract.models import RunRecord, StackSpec, Window
from stacks_contract.ports import Orchestrator, Transform
from stacks_contract.warehouse import Warehouse
from stacks_orch_airflow import AirflowOrchestrator
from stacks_testing.suites import BaseOrchestratorSuite, OrchestratorHarness


class AirflowHarness(OrchestratorHarness):
    def __init__(self, services: SuiteServices) -> None:
        self.services = services

    def make_orchestrator(self) -> Orchestrator:
        # one quick retry keeps the failing-step test short while still exercising retries
        return AirflowOrchestrator(retries=1, retry_delay=0.0)

    def orchestrator_factory(self) -> str:
        return "stacks_orch_airflow.testing:warm_orchestrator"

    def dbt_transform(self, project_dir: Path, schema: str) -> Transform:
        from stacks_transform_dbt import DbtTransform

        return DbtTransform(project_dir, name="dbt", schema=schema)

    def backfill(self, stack: StackSpec, window: Window, warehouse: Warehouse) -> RunRecord:
        return self.services.backfill(stack, window, warehouse)


@pytest.fixture(scope="module")
def suite_services(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Any
) -> Iterator[SuiteServices]:
    services = SuiteServices(tmp_path_factory.mktemp("airflow-suite"), postgres_server)
    with stopped_on_sigterm():
        try:
            yield services
        finally:
            services.stop()


class TestAirflowConformance(BaseOrchestratorSuite):
    kill_points = 2

    @pytest.fixture
    def orchestrator_harness(self, suite_services: SuiteServices) -> OrchestratorHarness:
        return AirflowHarness(suite_services)
