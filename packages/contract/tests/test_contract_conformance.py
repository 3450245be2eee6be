"""The contract's own subjects pass its suites, on DuckDB and Postgres: the reference EL step,
the reference SQL transform and the LocalOrchestrator."""

from __future__ import annotations

import pytest
from stacks_contract.testing.suites import (
    BaseELSuite,
    BaseOrchestratorSuite,
    BaseTransformSuite,
    ELHarness,
    OrchestratorHarness,
    TransformHarness,
)
from stacks_contract.testing.suites.reference import (
    LocalOrchestratorHarness,
    ReferenceELHarness,
    ReferenceTransformHarness,
)


class TestReferenceELConformance(BaseELSuite):
    @pytest.fixture
    def el_harness(self, warehouse, tmp_path) -> ELHarness:
        return ReferenceELHarness(tmp_path / "source")


class TestReferenceTransformConformance(BaseTransformSuite):
    @pytest.fixture
    def transform_harness(self, warehouse, tmp_path) -> TransformHarness:
        return ReferenceTransformHarness(tmp_path / "source")


class TestLocalOrchestratorConformance(BaseOrchestratorSuite):
    @pytest.fixture
    def orchestrator_harness(self, warehouse, tmp_path) -> OrchestratorHarness:
        return LocalOrchestratorHarness()
