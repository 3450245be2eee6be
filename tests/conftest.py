"""The shared warehouse fixtures (``warehouse``, ``postgres_warehouse``, ...) for these tests."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks_demo.shop import ShopServer
from stacks_testing import telemetry_off
from stacks_testing.postgres import PostgresServer, local_cluster

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()  # the tools these tests drive must not phone home
# helper modules beside the tests (faultmatrix, swapped_stacks) import by name (importlib mode)
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def fault_cluster() -> Iterator[PostgresServer]:
    """A Postgres cluster of the module's own: the fault matrix restarts it."""
    with local_cluster() as server:
        yield server


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    """One demo shop (seed 42) for every run of a module: each run reads the same data."""
    with ShopServer(seed=42) as shop:
        yield shop.url
