"""Fixtures for stacks-transform-dbt: the package's test dbt project and its raw shop tables."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect, qualified
from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()  # the tools these tests drive must not phone home
# helper modules beside the tests (public_stack) import by name (importlib mode)
sys.path.insert(0, str(Path(__file__).parent))


PROJECT = Path(__file__).parent / "project"
T0 = datetime(2024, 1, 1)
COUNTRIES = ["DE", "FR", "DE", "US", "FR"]
STATUSES = ["placed", "shipped", "returned"]


class Shop:
    """The raw tables the test project reads (``<schema>.customers`` and ``<schema>.orders``),
    deterministic: 5 customers, 20 orders (amounts 10..200, so 11 orders are >= 100)."""

    def __init__(self, schema: str = "raw") -> None:
        self.schema = schema

    def seed(self, warehouse: Warehouse, orders: int = 20) -> None:
        s = self.schema
        with connect(warehouse) as c:
            c.execute(f"create schema if not exists {s}")
            c.execute(f"drop table if exists {qualified(s, 'customers')}")
            c.execute(f"drop table if exists {qualified(s, 'orders')}")
            c.execute(
                f"create table {qualified(s, 'customers')} (id integer primary key, "
                "name varchar(100), country varchar(2), updated_at timestamp)"
            )
            c.execute(
                f"create table {qualified(s, 'orders')} (id integer primary key, "
                "customer_id integer, status varchar(20), amount numeric(12, 2), "
                "updated_at timestamp)"
            )
            c.executemany(
                f"insert into {qualified(s, 'customers')} values (?, ?, ?, ?)",
                [
                    (i, f"customer {i}", COUNTRIES[i - 1], T0 + timedelta(hours=i))
                    for i in range(1, 6)
                ],
            )
            c.executemany(
                f"insert into {qualified(s, 'orders')} values (?, ?, ?, ?, ?)",
                [
                    (i, (i % 5) + 1, STATUSES[i % 3], 10 * i, T0 + timedelta(days=i))
                    for i in range(1, orders + 1)
                ],
            )

    def update_order(self, warehouse: Warehouse, order_id: int, amount: float) -> None:
        """Change one order's amount and bump its updated_at past every other row."""
        with connect(warehouse) as c:
            c.execute(
                f"update {qualified(self.schema, 'orders')} set amount = ?, updated_at = ? "
                "where id = ?",
                [amount, T0 + timedelta(days=1000), order_id],
            )

    def delete_order(self, warehouse: Warehouse, order_id: int) -> None:
        with connect(warehouse) as c:
            c.execute(f"delete from {qualified(self.schema, 'orders')} where id = ?", [order_id])


@pytest.fixture(autouse=True)
def _dbt_state_in_tmp(tmp_path_factory, monkeypatch) -> None:
    """dbt's per-warehouse state (profiles, target/, logs/) for Postgres warehouses would go to
    the system temp dir and outlive the test databases; keep it under pytest's tmp instead.
    Subprocesses inherit the variable."""
    monkeypatch.setenv("STACKS_DBT_STATE_DIR", str(tmp_path_factory.getbasetemp() / "dbt-state"))


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
def make_shop() -> type[Shop]:
    return Shop


@pytest.fixture
def project_dir() -> Path:
    return PROJECT
