"""Fixtures for the dagster-dlt-dbt stack's tests: a demo shop per test, the stack bound to it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks_dagster_dlt_dbt import DagsterDltDbtStack, build_stack
from stacks_demo.shop import ShopServer
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()  # the tools these tests drive must not phone home
# helper modules beside the tests (dagster_deployment) import by name (importlib mode)
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[ShopServer]:
    """A shop of the test's own; the stack's session sees STACKS_SHOP_URL and starts none."""
    with ShopServer(seed=42) as server:
        monkeypatch.setenv(SHOP_URL_ENV, server.url)
        yield server


@pytest.fixture
def stack(shop: ShopServer) -> DagsterDltDbtStack:
    return build_stack()
