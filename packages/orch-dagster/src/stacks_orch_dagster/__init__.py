"""stacks-orch-dagster: the orchestrator port over Dagster (dagster-dlt, dagster-dbt).

Importing this package is cheap: Dagster loads when definitions are built or a run starts.
"""

from stacks_orch_dagster.capabilities import DbtCapable, DltCapable, is_dbt_transform, is_dlt_step
from stacks_orch_dagster.definitions import StackDefinitions, build_definitions
from stacks_orch_dagster.orchestrator import DagsterOrchestrator, write_dagster_home
from stacks_orch_dagster.runstate import TAG_RUN_ID, TAG_TRIGGER

__all__ = [
    "TAG_RUN_ID",
    "TAG_TRIGGER",
    "DagsterOrchestrator",
    "DbtCapable",
    "DltCapable",
    "StackDefinitions",
    "build_definitions",
    "is_dbt_transform",
    "is_dlt_step",
    "write_dagster_home",
]
