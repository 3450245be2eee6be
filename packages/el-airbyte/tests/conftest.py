"""Fixtures of the local engine's executor tests: a live demo shop and connections to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from stacks_contract.warehouse import Warehouse
from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig, SyncMode
from stacks_el_airbyte.manifests import SHOP_MANIFEST
from stacks_testing import telemetry_off
from stacks_testing.demo.shop import ShopServer

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()

SHOP_STREAMS = ("customers", "products", "orders", "payments")


@pytest.fixture
def shop() -> Iterator[ShopServer]:
    with ShopServer(seed=7) as server:
        yield server


@pytest.fixture
def connect_shop(shop: ShopServer, warehouse: Warehouse) -> Callable[..., ConnectionConfig]:
    """``connect_shop(mode, page_size=, warehouse=)``: a connection from the test's shop to its
    warehouse (or another one), every shop stream in ``mode``."""

    def make(
        mode: SyncMode = "incremental_deduped_history",
        *,
        page_size: int = 1000,
        to: Warehouse | None = None,
    ) -> ConnectionConfig:
        return ConnectionConfig(
            connection_id="conn-shop",
            name="shop",
            source_manifest=SHOP_MANIFEST,
            source_config={"url": shop.url, "page_size": page_size},
            streams=tuple(StreamConfig(name, mode) for name in SHOP_STREAMS),
            destination=to or warehouse,
        )

    return make
