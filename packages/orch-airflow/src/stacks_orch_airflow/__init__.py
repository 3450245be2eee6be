"""stacks-orch-airflow: the orchestrator port over Apache Airflow 3 (Cosmos for dbt).

Importing this package is cheap and imports no Airflow. It does set Airflow's home defaults
(``./.stacks/airflow``, see :mod:`stacks_orch_airflow.home`) so that nothing imported later (dlt
imports Airflow when it is installed) creates ``~/airflow``.
"""

from stacks_orch_airflow.home import airflow_home, configure, ensure_db

configure()

from stacks_orch_airflow.dag import build_dag, dag_id_for  # noqa: E402
from stacks_orch_airflow.dagfile import stack_dag, write_dag_file  # noqa: E402
from stacks_orch_airflow.orchestrator import AirflowOrchestrator  # noqa: E402

__all__ = [
    "AirflowOrchestrator",
    "airflow_home",
    "build_dag",
    "configure",
    "dag_id_for",
    "ensure_db",
    "stack_dag",
    "write_dag_file",
]
