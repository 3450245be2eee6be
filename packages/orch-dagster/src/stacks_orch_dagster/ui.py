"""The code location ``stacks ui`` hands to ``dagster dev``: the stack named by
``$STACKS_UI_STACK``, built by its own orchestrator, its warehouse read from the environment
variable ``$STACKS_UI_WAREHOUSE_ENV`` names (default ``STACKS_WAREHOUSE``)."""

from __future__ import annotations

import os

from stacks_contract.models import StackRef
from stacks_core.registry import load_stack

from stacks_orch_dagster.orchestrator import quiet_env

quiet_env()
REF = StackRef(
    stack=os.environ["STACKS_UI_STACK"],
    warehouse_env=os.environ.get("STACKS_UI_WAREHOUSE_ENV", "STACKS_WAREHOUSE"),
)
stack_definitions = load_stack(REF.stack).orchestrator().build(REF)
defs = stack_definitions.defs
