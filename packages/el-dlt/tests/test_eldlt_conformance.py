"""The contract's EL suite, on DuckDB and Postgres, for three DltSteps:

* a dict resource with a child table (orders -> orders__items), merge + incremental;
* the shipped files source (JSONL landing folder), merge on ``id``, incremental on file dates;
* the shipped shop API source (dlt rest_api over the demo shop), with its child table.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks_contract.models import TableRef
from stacks_contract.ports import ELStep
from stacks_contract.warehouse import Warehouse
from stacks_demo.shop import ShopServer
from stacks_el_dlt import FilesStep, ShopApiStep
from stacks_testing.suites import BaseELSuite, ELHarness, RowChange

HERE = Path(__file__).parent
CHILD = HERE / "eldlt_child.py"
LANDING_ENV = "ELDLT_LANDING"
SHOP_ENV = "ELDLT_SHOP_URL"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dlt looks resources' modules up by name
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


child = _load(CHILD, "eldlt_child_for_conformance")


class JsonOrdersHarness(ELHarness):
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "orders.json"
        child.write_orders(self.data, 80)

    def make_step(self) -> ELStep:
        return child.make_step(self.data)

    def change_one_row(self) -> RowChange:
        rows = json.loads(self.data.read_text())
        row = rows[4]
        row["status"] = "changed"
        row["updated_at"] = max(r["updated_at"] for r in rows) + 1
        self.data.write_text(json.dumps(rows))
        return RowChange(TableRef("raw", "orders"), {"id": row["id"]}, "status", "changed")

    def step_factory(self) -> str:
        return f"{CHILD}:make_step"

    def subprocess_env(self) -> dict[str, str]:
        return {child.DATA_ENV: str(self.data)}


def make_files_step(folder: str | None = None) -> FilesStep:
    """Factory for the subprocess runner (folder from the environment)."""
    return FilesStep(
        folder or os.environ[LANDING_ENV], table="deliveries", pattern="*.jsonl", primary_key="id"
    )


class FilesHarness(ELHarness):
    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "landing"
        self.folder.mkdir()
        self.rows = [{"id": i, "qty": i, "site": f"s{i % 5}"} for i in range(1, 301)]
        for day in range(3):
            part = self.rows[day * 100 : (day + 1) * 100]
            (self.folder / f"day{day}.jsonl").write_text(
                "\n".join(json.dumps(r) for r in part) + "\n"
            )
        self.version = 0

    def make_step(self) -> ELStep:
        return make_files_step(str(self.folder))

    def change_one_row(self) -> RowChange:
        # a correction file arrives: one row, same key, new value
        self.version += 1
        fixed = {"id": 7, "qty": 700 + self.version, "site": "s2"}
        path = self.folder / f"fix{self.version}.jsonl"
        path.write_text(json.dumps(fixed) + "\n")
        st = path.stat()
        os.utime(path, (st.st_atime + 5, st.st_mtime + 5))
        return RowChange(TableRef("raw", "deliveries"), {"id": 7}, "qty", fixed["qty"])

    def step_factory(self) -> str:
        return f"{Path(__file__).resolve()}:make_files_step"

    def subprocess_env(self) -> dict[str, str]:
        return {LANDING_ENV: str(self.folder)}


class TestDltConformance(BaseELSuite):
    @pytest.fixture
    def el_harness(self, warehouse: Warehouse, tmp_path: Path) -> ELHarness:
        return JsonOrdersHarness(tmp_path)


class TestDltFilesConformance(BaseELSuite):
    kill_points = 2

    @pytest.fixture
    def el_harness(self, warehouse: Warehouse, tmp_path: Path) -> ELHarness:
        return FilesHarness(tmp_path)


def make_shop_step(url: str | None = None) -> ShopApiStep:
    """Factory for the subprocess runner (the shop runs in the test process)."""
    return ShopApiStep(url or os.environ[SHOP_ENV])


class ShopHarness(ELHarness):
    def __init__(self, shop: ShopServer) -> None:
        self.shop = shop
        self.changes = 0

    def make_step(self) -> ELStep:
        return make_shop_step(self.shop.url)

    def change_one_row(self) -> RowChange:
        # bump the cursor past every loaded row
        self.changes += 1
        customer = self.shop.state.update_row(
            "customers",
            5,
            name=f"Renamed {self.changes}",
            updated_at=f"2030-01-{self.changes:02d}T00:00:00Z",
        )
        return RowChange(TableRef("raw", "customers"), {"id": 5}, "name", customer["name"])

    def step_factory(self) -> str:
        return f"{Path(__file__).resolve()}:make_shop_step"

    def subprocess_env(self) -> dict[str, str]:
        return {SHOP_ENV: self.shop.url}


class TestShopApiConformance(BaseELSuite):
    kill_points = 2

    @pytest.fixture
    def el_harness(self, warehouse: Warehouse) -> Iterator[ELHarness]:
        with ShopServer(seed=11) as shop:
            yield ShopHarness(shop)
