"""The Airflow provider's AirbyteHook syncs a connection of the local engine: token at the
provider's default relative token URL, job submitted, polled to success."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("base", ["/v1", "/api/public/v1"])
def test_airbyte_hook_syncs_a_connection(
    engine: Any, duckdb_warehouse: Any, monkeypatch: pytest.MonkeyPatch, base: str
) -> None:
    # the connection as an Airflow user writes it: JSON in AIRFLOW_CONN_<ID>, no token URL
    # (the provider's default, "v1/applications/token", relative to the server URL)
    conn = {
        "conn_type": "airbyte",
        "host": f"{engine.origin}{base}",
        "login": engine.client_id,
        "password": engine.client_secret,
    }
    monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_LOCAL", json.dumps(conn))
    from airflow.providers.airbyte.hooks.airbyte import AirbyteHook

    (connection_id,) = engine.connections
    hook = AirbyteHook(airbyte_conn_id="airbyte_local")
    job = hook.submit_sync_connection(connection_id=connection_id)
    hook.wait_for_job(job.job_id, wait_seconds=0.1, timeout=60)
    assert hook.get_job_status(job.job_id) == "succeeded"
    from stacks_core.sql import connect

    with connect(duckdb_warehouse) as db:
        assert db.count("raw", "customers") == 5

    engine.inject(connection_id, fail_job=True)
    failed = hook.submit_sync_connection(connection_id=connection_id)
    from airflow.providers.common.compat.sdk import AirflowException

    with pytest.raises(AirflowException, match="Job failed"):
        hook.wait_for_job(failed.job_id, wait_seconds=0.1, timeout=60)
