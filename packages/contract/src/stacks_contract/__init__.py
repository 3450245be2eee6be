"""stacks-contract: the thin, tool-free contract every stacks package implements.

Frozen models, the ports (ABCs), warehouse URLs, selection, triggers and the table manifest;
pydantic and the standard library only. The runtime that uses them (the ledger, the run lock,
fingerprints, the Local orchestrator) is ``stacks_core``; the ``stacks`` command is ``stacks_cli``.
"""

from stacks_contract.errors import (
    ConfigError,
    StacksError,
    StepFailed,
    TransientError,
    WarehouseUnreachable,
)
from stacks_contract.manifest import Plan, plan
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    Freshness,
    LoadResult,
    ModelResult,
    NodeStatus,
    RunRecord,
    RunRequest,
    RunStatus,
    SourceChangeTrigger,
    StackSpec,
    TableRef,
    TestResult,
    TransformResult,
    TriggerKind,
    Window,
    new_run_id,
)
from stacks_contract.ports import (
    ChangeProbe,
    CursorState,
    ELStep,
    Orchestrator,
    Reporter,
    Stack,
    Transform,
    UiCommand,
    silent,
)
from stacks_contract.warehouse import (
    DuckDBWarehouse,
    PostgresWarehouse,
    Warehouse,
    parse_warehouse,
)

__all__ = [
    "ChangeProbe",
    "ConfigError",
    "CronTrigger",
    "CursorState",
    "DuckDBWarehouse",
    "ELStep",
    "FileArrivalTrigger",
    "Freshness",
    "LoadResult",
    "ModelResult",
    "NodeStatus",
    "Orchestrator",
    "Plan",
    "PostgresWarehouse",
    "Reporter",
    "RunRecord",
    "RunRequest",
    "RunStatus",
    "SourceChangeTrigger",
    "Stack",
    "StackSpec",
    "StacksError",
    "StepFailed",
    "TableRef",
    "TestResult",
    "Transform",
    "TransformResult",
    "TransientError",
    "TriggerKind",
    "UiCommand",
    "Warehouse",
    "WarehouseUnreachable",
    "Window",
    "new_run_id",
    "parse_warehouse",
    "plan",
    "silent",
]
