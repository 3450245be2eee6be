"""Conformance suites shipped with the contract (like dbt-tests-adapter / langchain-tests).

Each package's ``tests/test_<pkg>_conformance.py`` subclasses one ``Base*Suite`` and overrides
one fixture (``el_harness``, ``transform_harness`` or ``orchestrator_harness``). The ``warehouse``
and ``warehouse_factory`` fixtures come from the ``stacks`` pytest plugin, auto-loaded.
"""

from stacks_testing.suites.el import BaseELSuite
from stacks_testing.suites.harness import (
    ELHarness,
    OrchestratorHarness,
    RowChange,
    TransformHarness,
    TriggerHarness,
)
from stacks_testing.suites.orchestrator import BaseOrchestratorSuite
from stacks_testing.suites.transform import BaseTransformSuite
from stacks_testing.suites.triggers import BaseTriggerSuite

__all__ = [
    "BaseELSuite",
    "BaseOrchestratorSuite",
    "BaseTransformSuite",
    "BaseTriggerSuite",
    "ELHarness",
    "OrchestratorHarness",
    "RowChange",
    "TransformHarness",
    "TriggerHarness",
]
