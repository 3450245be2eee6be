"""orch-dagster against the contract's orchestrator suite (reference steps, through the ports)."""

from __future__ import annotations

import pytest
from stacks_contract.ports import Orchestrator
from stacks_orch_dagster import DagsterOrchestrator
from stacks_testing.suites import BaseOrchestratorSuite, OrchestratorHarness


class DagsterHarness(OrchestratorHarness):
    def make_orchestrator(self) -> Orchestrator:
        # one quick retry keeps the failing-step test short while still exercising RetryPolicy
        return DagsterOrchestrator(retries=1, retry_delay=0.2)

    def orchestrator_factory(self) -> str:
        return "stacks_orch_dagster:DagsterOrchestrator"


class TestDagsterConformance(BaseOrchestratorSuite):
    @pytest.fixture
    def orchestrator_harness(self) -> OrchestratorHarness:
        return DagsterHarness()
