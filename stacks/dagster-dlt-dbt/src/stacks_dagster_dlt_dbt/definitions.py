"""``defs`` for the Dagster UI: ``uv run dagster dev -m stacks_dagster_dlt_dbt.definitions``.

The warehouse comes from ``STACKS_WAREHOUSE`` (default: ``.stacks/dagster-dlt-dbt.duckdb``), the
shop from ``STACKS_SHOP_URL`` (default: ``http://127.0.0.1:8765``, where
``python -m stacks_demo.shop`` listens). Runs launched from the UI, the schedule or the
sensors carry their own stacks run id in their tags.
"""

from __future__ import annotations

import os

from stacks_contract.models import StackRef
from stacks_orch_dagster import DagsterOrchestrator

from stacks_dagster_dlt_dbt.stack import NAME

for _k, _v in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_k, _v)

#: the stack by name; the warehouse URL (secrets included) is read from STACKS_WAREHOUSE here
REF = StackRef(stack=NAME)
stack_definitions = DagsterOrchestrator().build(REF)
defs = stack_definitions.defs
