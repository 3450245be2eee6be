"""orch-temporal against the contract's orchestrator suite (reference steps, through the ports)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stacks_contract.models import RunRecord, StackSpec, Window
from stacks_contract.ports import Orchestrator, Transform
from stacks_contract.warehouse import Warehouse
from stacks_orch_temporal import ADDRESS_ENV, DevServer, StepOptions, TemporalOrchestrator
from stacks_testing.suites import BaseOrchestratorSuite, OrchestratorHarness
from temporal_backfill import backfill

#: quick retries keep the tests short while still exercising the retry policy
FAST = StepOptions(heartbeat=5.0, max_attempts=3, initial_interval=0.2)


class TemporalHarness(OrchestratorHarness):
    def __init__(self, server: DevServer) -> None:
        self.server = server

    def make_orchestrator(self) -> Orchestrator:
        return TemporalOrchestrator(address=self.server.address, options=FAST)

    def orchestrator_factory(self) -> str:
        return "stacks_orch_temporal:TemporalOrchestrator"

    def subprocess_env(self) -> dict[str, str]:
        return {ADDRESS_ENV: self.server.address}

    def dbt_transform(self, project: Path, schema: str) -> Transform:
        """dbt through the port: the activity calls ``DbtTransform.run`` (``dbt build``)."""
        from stacks_transform_dbt import DbtTransform

        return DbtTransform(project, schema=schema)

    def backfill(self, stack: StackSpec, window: Window, warehouse: Warehouse) -> RunRecord:
        """``temporal schedule backfill`` of the window's end tick (see temporal_backfill)."""
        return backfill(self.server.address, stack, window, warehouse, FAST)


class TestTemporalConformance(BaseOrchestratorSuite):
    @pytest.fixture
    def orchestrator_harness(self, temporal_server: DevServer) -> OrchestratorHarness:
        return TemporalHarness(temporal_server)
