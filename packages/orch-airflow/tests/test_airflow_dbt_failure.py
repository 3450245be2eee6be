"""A failing dbt model under Cosmos fails the DAG run at once (a retry cannot fix it: its task is
tried once although the DAG's tasks have retries), and the ledger says which and why."""

from __future__ import annotations

from pathlib import Path

from stacks_contract.models import RunRequest, RunStatus, StackSpec
from stacks_core.ledger import Ledger
from stacks_core.sql import connect
from stacks_orch_airflow import AirflowOrchestrator
from stacks_testing import reference as ref

PROJECT = {
    "dbt_project.yml": "name: failing\nversion: '1.0'\nprofile: failing\n",
    "models/sources.yml": (
        "version: 2\nsources:\n  - name: raw\n"
        "    schema: \"{{ var('stacks_source_schema', 'raw') }}\"\n"
        "    tables:\n      - name: customers\n"
    ),
    "models/good.sql": (
        'select id, name, \'{{ var("stacks_run_id", "") }}\' as _stacks_run_id '
        "from {{ source('raw', 'customers') }}"
    ),
    "models/bad.sql": "select no_such_column from {{ ref('good') }}",
}


def test_a_failing_model_fails_the_run_with_one_sentence(tmp_path: Path, duckdb_warehouse) -> None:
    from stacks_transform_dbt import DbtTransform

    project = tmp_path / "project"
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    base = ref.reference_stack(tmp_path / "src")
    spec = StackSpec(
        name="failing",
        el_steps=(base.step("customers"),),
        transform=DbtTransform(project, name="dbt", schema="analytics"),
    )
    orchestrator = AirflowOrchestrator(retries=2, retry_delay=0.0)
    record = orchestrator.run(spec, RunRequest(stack="failing"), duckdb_warehouse)
    assert record.status == RunStatus.FAILED
    assert record.error is not None
    assert record.error.startswith("Step 'dbt' failed: model(s) bad"), record.error
    assert "no_such_column" in record.error
    assert record.models == ("good",)
    assert Ledger(duckdb_warehouse).get(record.run_id).error == record.error
    with connect(duckdb_warehouse) as conn:
        assert conn.count("analytics", "good") == 8
    assert _tries("failing", "bad") == [1], "a failing model's task was retried"


def _tries(dag_id: str, model: str) -> list[int]:
    """How often Airflow tried the tasks building ``model`` (its metadata DB, as its UI shows)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.try_number).filter(
            TaskInstance.dag_id == dag_id
        )
        return [n for task, n in rows if model in task.split(".")[-1]]
