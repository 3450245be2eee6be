"""The opt-in pytest plugin: the shared warehouse fixtures.

Enable it in a ``conftest.py`` with ``pytest_plugins = ("stacks_testing.plugin",)``. It sets no
tool's environment variables: a package's own ``conftest.py`` (or the test runner) does that.

* ``postgres_server`` (session): one real Postgres (see :mod:`stacks_testing.postgres`);
* ``postgres_warehouse``: a fresh database per test, dropped afterwards;
* ``duckdb_warehouse``: a fresh DuckDB file per test;
* ``warehouse``: parametrised over both (ids ``duckdb`` and ``postgres``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from stacks_contract.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

from stacks_testing.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres_server_fixture() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


# public name; the indirection keeps the module-level function name free for imports
@pytest.fixture(scope="session", name="postgres_server")
def _postgres_server(postgres_server_fixture: PostgresServer) -> PostgresServer:
    return postgres_server_fixture


@pytest.fixture
def postgres_warehouse(postgres_server: PostgresServer) -> Iterator[PostgresWarehouse]:
    wh = postgres_server.create_database()
    yield wh
    # a test that left a connection open must not fail teardown of others
    with contextlib.suppress(Exception):
        postgres_server.drop_database(wh.database)


@pytest.fixture
def duckdb_warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=tmp_path / "warehouse.duckdb")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    if request.param == "duckdb":
        return request.getfixturevalue("duckdb_warehouse")
    return request.getfixturevalue("postgres_warehouse")


@pytest.fixture
def warehouse_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Warehouse]]:
    """Make more fresh warehouses of the same kind (and schema) as this test's ``warehouse``:
    the conformance suites compare an interrupted warehouse with an uninterrupted one."""
    like: Warehouse = request.getfixturevalue("warehouse")
    made: list[str] = []

    def make() -> Warehouse:
        if isinstance(like, DuckDBWarehouse):
            path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
            return DuckDBWarehouse(path=path, schema=like.schema_name)
        server: PostgresServer = request.getfixturevalue("postgres_server")
        wh = server.create_database()
        made.append(wh.database)
        return wh.with_schema(like.schema_name)

    yield make
    if made:
        server = request.getfixturevalue("postgres_server")
        for name in made:  # as for postgres_warehouse: teardown must not fail other tests
            with contextlib.suppress(Exception):
                server.drop_database(name)
