"""A connection the server ends mid-build (what a Postgres restart does to every session) is a
transient failure, told in the database's words; a model's SQL error is not."""

from __future__ import annotations

from pathlib import Path

import pytest
from stacks_contract.models import NodeStatus, RunRequest
from stacks_contract.warehouse import PostgresWarehouse
from stacks_core.retry import is_transient
from stacks_transform_dbt import DbtStepFailed, DbtTransform

PROJECT = """name: lost
profile: lost
version: "1.0"
config-version: 2
model-paths: ["models"]
models:
  lost:
    +materialized: table
"""


def _project(root: Path, models: dict[str, str]) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(PROJECT)
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    return root


def test_a_connection_ended_by_the_server_mid_build_is_transient(
    postgres_warehouse: PostgresWarehouse, tmp_path: Path
) -> None:
    project = _project(
        tmp_path / "lost",
        {
            "fine": "select 1 as id",
            # the server ends this model's session, as a restart ends every session
            "cut": "select pg_terminate_backend(pg_backend_pid()) as gone",
            "broken": "select * from no_such_table",
        },
    )
    transform = DbtTransform(project, threads=1)
    with pytest.raises(DbtStepFailed) as cut:
        transform.run(RunRequest(stack="t", select=("fine", "cut")), postgres_warehouse)
    assert "server closed the connection unexpectedly" in str(cut.value)  # psycopg2's words
    assert cut.value.transient and is_transient(cut.value)
    statuses = {m.name: m.status for m in cut.value.result.models}
    assert statuses == {"fine": NodeStatus.SUCCESS, "cut": NodeStatus.ERROR}

    with pytest.raises(DbtStepFailed) as broken:
        transform.run(RunRequest(stack="t", select=("broken",)), postgres_warehouse)
    assert "no_such_table" in str(broken.value)
    assert not broken.value.transient and not is_transient(broken.value)
