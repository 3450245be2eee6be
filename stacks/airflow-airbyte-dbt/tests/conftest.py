"""Fixtures for the airflow-airbyte-dbt stack's tests: the plugin's warehouses, Airflow's
metadata DB kept under the test session's folder, a demo shop per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stacks_airflow_airbyte_dbt.stack import SERVER_ENV, SHOP_URL_ENV
from stacks_demo.shop import ShopServer
from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)

telemetry_off()  # the tools these tests drive must not phone home


@pytest.fixture(autouse=True)
def _own_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs the stack's own local engine, whatever the caller's environment says."""
    monkeypatch.delenv(SERVER_ENV, raising=False)


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[ShopServer]:
    with ShopServer(seed=42) as server:
        monkeypatch.setenv(SHOP_URL_ENV, server.url)
        yield server
