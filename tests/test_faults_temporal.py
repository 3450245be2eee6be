"""The fault matrix under Temporal: `stacks run temporal-dlt-dbt` (workers of its own, one dev
server for the module) killed, interrupted, raced and cut off from a restarting Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faultmatrix import run_fault_matrix
from stacks_orch_temporal import ADDRESS_ENV, DevServer
from stacks_testing.postgres import PostgresServer


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One dev server for the module, its database where the secrets scan reads it."""
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    with DevServer(ui=False, db_file=db) as server:
        yield server.address, db


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_temporal_fault_matrix(
    kind: str,
    tmp_path: Path,
    shop_url: str,
    fault_cluster: PostgresServer,
    temporal: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_fault_matrix(
        "temporal-dlt-dbt",
        kind,
        cwd=tmp_path,
        shop_url=shop_url,
        cluster=fault_cluster,
        env={ADDRESS_ENV: temporal[0]},
        scan_also=[temporal[1].parent],
        capsys=capsys,
    )
