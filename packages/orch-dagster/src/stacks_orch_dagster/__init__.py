"""stacks-orch-dagster: the orchestrator port over Dagster.

Importing this package is cheap: Dagster loads when definitions are built or a run starts. The
``[dlt]`` and ``[dbt]`` extras add dagster-dlt / dagster-dbt assets for el-dlt steps and dbt
transforms (:mod:`stacks_orch_dagster.dlt`, :mod:`stacks_orch_dagster.dbt`).
"""

from stacks_orch_dagster.definitions import StackDefinitions, build_definitions
from stacks_orch_dagster.orchestrator import DagsterOrchestrator, write_dagster_home
from stacks_orch_dagster.runstate import TAG_RUN_ID, TAG_TRIGGER

__all__ = [
    "TAG_RUN_ID",
    "TAG_TRIGGER",
    "DagsterOrchestrator",
    "StackDefinitions",
    "build_definitions",
    "write_dagster_home",
]
