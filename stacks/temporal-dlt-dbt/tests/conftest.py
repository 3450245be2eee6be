"""Fixtures for the temporal-dlt-dbt stack's tests: a shop per test, ONE Temporal dev server per
session (the stack's session then starts neither)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stacks_demo.shop import ShopServer
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_orch_temporal import ADDRESS_ENV, DevServer
from stacks_temporal_dlt_dbt import TemporalDltDbtStack, build_stack
from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)

telemetry_off()  # the tools these tests drive must not phone home


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[DevServer]:
    with DevServer(ui=False) as server:
        yield server


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[ShopServer]:
    with ShopServer(seed=42) as server:
        monkeypatch.setenv(SHOP_URL_ENV, server.url)
        yield server


@pytest.fixture
def stack(
    shop: ShopServer, temporal_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> TemporalDltDbtStack:
    monkeypatch.setenv(ADDRESS_ENV, temporal_server.address)
    return build_stack()
