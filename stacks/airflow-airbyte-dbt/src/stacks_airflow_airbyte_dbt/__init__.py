"""stacks-airflow-airbyte-dbt: Airbyte -> dbt (Cosmos) -> Airflow.

``build_stack`` is the ``stacks.stacks`` entry point; importing this package imports no tool.
"""

from stacks_airflow_airbyte_dbt.stack import (
    DBT_PROJECT_DIR,
    NAME,
    SHOP_CONNECTION_ID,
    STREAMS,
    AirflowAirbyteDbtStack,
    build_spec,
    build_stack,
    shop_connection,
)

__all__ = [
    "DBT_PROJECT_DIR",
    "NAME",
    "SHOP_CONNECTION_ID",
    "STREAMS",
    "AirflowAirbyteDbtStack",
    "build_spec",
    "build_stack",
    "shop_connection",
]
