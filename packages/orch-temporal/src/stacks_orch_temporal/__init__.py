"""stacks-orch-temporal: the orchestrator port over Temporal (durable execution).

Importing it imports temporalio; stacks import it only when they build their orchestrator.
"""

from stacks_orch_temporal.activities import StackActivities
from stacks_orch_temporal.bundle import TemporalBundle, record_from_failure
from stacks_orch_temporal.devserver import ADDRESS_ENV, DevServer, dev_server_binary
from stacks_orch_temporal.orchestrator import TemporalOrchestrator, task_queue
from stacks_orch_temporal.ref import StackRef, StackResolver, public_url, stack_ref
from stacks_orch_temporal.version import code_version
from stacks_orch_temporal.workflow import StackRunInput, StackRunWorkflow, StepOptions

__all__ = [
    "ADDRESS_ENV",
    "DevServer",
    "StackActivities",
    "StackRef",
    "StackResolver",
    "StackRunInput",
    "StackRunWorkflow",
    "StepOptions",
    "TemporalBundle",
    "TemporalOrchestrator",
    "code_version",
    "dev_server_binary",
    "public_url",
    "record_from_failure",
    "stack_ref",
    "task_queue",
]
