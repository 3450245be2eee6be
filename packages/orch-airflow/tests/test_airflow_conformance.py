"""The orchestrator conformance suite, run through Airflow (dag.test) on DuckDB and Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest
from stacks_contract.ports import Orchestrator, Transform
from stacks_orch_airflow import AirflowOrchestrator
from stacks_testing.suites import BaseOrchestratorSuite, OrchestratorHarness


class AirflowHarness(OrchestratorHarness):
    no_backfill = (
        "an Airflow backfill needs a running scheduler; test_airflow_production.py::"
        "test_a_backfill_covers_its_data_interval_like_stacks_run_window runs one against "
        "stacks run --window"
    )

    def make_orchestrator(self) -> Orchestrator:
        # one quick retry keeps the failing-step test short while still exercising retries
        return AirflowOrchestrator(retries=1, retry_delay=0.0)

    def orchestrator_factory(self) -> str:
        return "stacks_orch_airflow.testing:warm_orchestrator"

    def dbt_transform(self, project_dir: Path, schema: str) -> Transform:
        from stacks_transform_dbt import DbtTransform

        return DbtTransform(project_dir, name="dbt", schema=schema)


class TestAirflowConformance(BaseOrchestratorSuite):
    kill_points = 2

    @pytest.fixture
    def orchestrator_harness(self) -> OrchestratorHarness:
        return AirflowHarness()
