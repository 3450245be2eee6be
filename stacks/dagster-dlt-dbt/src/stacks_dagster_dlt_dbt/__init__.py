"""stacks-dagster-dlt-dbt: the recommended stack (dlt -> dbt -> Dagster).

``build_stack`` is the ``stacks.stacks`` entry point; importing this package imports no tool.
"""

from stacks_dagster_dlt_dbt.stack import (
    DBT_PROJECT_DIR,
    NAME,
    DagsterDltDbtStack,
    build_spec,
    build_stack,
)

__all__ = ["DBT_PROJECT_DIR", "NAME", "DagsterDltDbtStack", "build_spec", "build_stack"]
