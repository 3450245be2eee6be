"""The same stack under two orchestrators: on the same shop data, the marts Temporal builds equal
the marts Dagster builds (content fingerprints, load metadata ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stacks_contract.models import RunRequest, RunStatus
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_core.fingerprint import diff, fingerprint
from stacks_core.registry import load_stack
from stacks_demo.shop import ShopServer
from stacks_orch_temporal import ADDRESS_ENV, DevServer

SHOP_URL_ENV = "STACKS_SHOP_URL"


@pytest.mark.slow
def test_marts_under_temporal_equal_marts_under_dagster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marts = {}
    with ShopServer(seed=42) as shop, DevServer(ui=False) as temporal:
        monkeypatch.setenv(SHOP_URL_ENV, shop.url)
        monkeypatch.setenv(ADDRESS_ENV, temporal.address)
        for name in ("dagster-dlt-dbt", "temporal-dlt-dbt"):
            stack = load_stack(name)
            warehouse = DuckDBWarehouse(path=tmp_path / f"{name}.duckdb")
            spec = stack.spec(warehouse)
            with stack.session(warehouse):
                record = stack.orchestrator().run(spec, RunRequest(stack=name), warehouse)
            assert record.status == RunStatus.SUCCEEDED, f"{name}: {record.error}"
            tables = [*(t for s in spec.el_steps for t in s.produces()), *spec.transform.produces()]
            marts[name] = fingerprint(warehouse, tables, metadata=spec.metadata_columns())
    assert len(marts["temporal-dlt-dbt"]) == 12, sorted(marts["temporal-dlt-dbt"])
    assert marts["temporal-dlt-dbt"] == marts["dagster-dlt-dbt"], diff(
        marts["dagster-dlt-dbt"], marts["temporal-dlt-dbt"]
    )
