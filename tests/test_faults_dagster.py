"""The fault matrix under Dagster: `stacks run dagster-dlt-dbt` killed, interrupted, raced and
cut off from a restarting Postgres; the warehouse converges and the ledger tells the truth."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultmatrix import run_fault_matrix
from stacks_testing.postgres import PostgresServer


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_dagster_fault_matrix(
    kind: str,
    tmp_path: Path,
    shop_url: str,
    fault_cluster: PostgresServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_fault_matrix(
        "dagster-dlt-dbt",
        kind,
        cwd=tmp_path,
        shop_url=shop_url,
        cluster=fault_cluster,
        capsys=capsys,
    )
