"""The shared warehouse fixtures (``warehouse``, ``postgres_warehouse``, ...) for these tests,
and ``server``: a throwaway Postgres cluster of this member's own, which tests may restart."""

from collections.abc import Iterator

import pytest
from stacks_testing import telemetry_off
from stacks_testing.postgres import PostgresServer, local_cluster

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()  # the tools these tests drive must not phone home


@pytest.fixture(scope="session")
def server() -> Iterator[PostgresServer]:
    with local_cluster() as pg:
        yield pg
