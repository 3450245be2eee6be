"""stacks-temporal-dlt-dbt: dlt -> dbt as a durable Temporal workflow.

``build_stack`` is the ``stacks.stacks`` entry point; importing this package imports no tool.
"""

from stacks_temporal_dlt_dbt.stack import (
    DBT_PROJECT_DIR,
    NAME,
    TemporalDltDbtStack,
    build_spec,
    build_stack,
)

__all__ = ["DBT_PROJECT_DIR", "NAME", "TemporalDltDbtStack", "build_spec", "build_stack"]
