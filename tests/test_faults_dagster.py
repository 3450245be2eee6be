"""The fault matrix under Dagster: `stacks run dagster-dlt-dbt` killed, interrupted, raced and
cut off from a restarting Postgres; the warehouse converges and the ledger tells the truth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faultmatrix import private_cluster, run_fault_matrix
from stacks_testing.demo.shop import ShopServer
from stacks_testing.postgres import PostgresServer


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresServer]:
    yield from private_cluster()


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    with ShopServer(seed=42) as shop:
        yield shop.url


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_dagster_fault_matrix(
    kind: str,
    tmp_path: Path,
    shop_url: str,
    cluster: PostgresServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_fault_matrix(
        "dagster-dlt-dbt",
        kind,
        cwd=tmp_path,
        shop_url=shop_url,
        cluster=cluster,
        env={},
        capsys=capsys,
    )
