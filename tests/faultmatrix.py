"""What every orchestrator's fault-matrix module shares: a private Postgres cluster it may
restart, one demo shop for every run, and the fingerprint of a clean run of the shop stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from stacks_contract.models import RunRequest, RunStatus, TableRef
from stacks_contract.warehouse import DuckDBWarehouse, Warehouse
from stacks_core.fingerprint import Fingerprint, fingerprint
from stacks_core.local import LocalOrchestrator
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_temporal_dlt_dbt.stack import build_spec
from stacks_testing.faults import FaultMatrix, standard_matrix
from stacks_testing.postgres import PostgresServer

__all__ = ["run_fault_matrix"]


def shop_tables(warehouse: Warehouse) -> tuple[list[TableRef], tuple[str, ...]]:
    spec = build_spec(warehouse)
    tables = [*(t for s in spec.el_steps for t in s.produces()), *spec.transform.produces()]
    return tables, spec.metadata_columns()


def clean_fingerprint(warehouse: Warehouse, shop_url: str, mp: pytest.MonkeyPatch) -> Fingerprint:
    """The shop stack's steps run once, in-process, by the tool-free local orchestrator."""
    mp.setenv(SHOP_URL_ENV, shop_url)
    spec = build_spec(warehouse)
    record = LocalOrchestrator().run(spec, RunRequest(stack="clean"), warehouse)
    assert record.status == RunStatus.SUCCEEDED, record.error
    tables, metadata = shop_tables(warehouse)
    return fingerprint(warehouse, tables, metadata=metadata)


def run_fault_matrix(
    stack: str,
    kind: str,
    *,
    cwd: Path,
    shop_url: str,
    cluster: PostgresServer,
    env: Mapping[str, str] | None = None,
    scan_also: Sequence[Path] = (),
    capsys: pytest.CaptureFixture[str],
) -> None:
    mp = pytest.MonkeyPatch()
    try:
        if kind == "postgres":
            clean, hurt = cluster.create_database("clean"), cluster.create_database("faults")
        else:
            clean = DuckDBWarehouse(path=cwd / "clean.duckdb", schema="raw")
            hurt = DuckDBWarehouse(path=cwd / "faults.duckdb", schema="raw")
        target = clean_fingerprint(clean, shop_url, mp)
    finally:
        mp.undo()
    tables, metadata = shop_tables(hurt)
    matrix = FaultMatrix(
        stack=stack,
        warehouse=hurt,
        env={SHOP_URL_ENV: shop_url, **(env or {})},
        cwd=cwd,
        target=target,
        tables=tables,
        metadata=metadata,
    )
    try:
        standard_matrix(matrix, scan_also)
    finally:
        with capsys.disabled():
            print(f"\nfault matrix: {stack.rsplit('/', 1)[-1]} on {kind}\n{matrix.table()}\n")
