"""Fixtures for the dagster-dlt-dbt stack's tests: a demo shop per test, the stack bound to it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from stacks_dagster_dlt_dbt import DagsterDltDbtStack, build_stack
from stacks_dagster_dlt_dbt.shop import SHOP_URL_ENV
from stacks_testing.demo.shop import ShopServer

pytest_plugins = ("stacks_testing.plugin",)

# the tools these tests drive must not phone home
for _key, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[ShopServer]:
    """A shop of the test's own; the stack's session sees STACKS_SHOP_URL and starts none."""
    with ShopServer(seed=42) as server:
        monkeypatch.setenv(SHOP_URL_ENV, server.url)
        yield server


@pytest.fixture
def stack(shop: ShopServer) -> DagsterDltDbtStack:
    return build_stack()
