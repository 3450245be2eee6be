"""The contract's transform suite over the package's test dbt project."""

from __future__ import annotations

from pathlib import Path

import pytest
from stacks_contract.ports import Transform
from stacks_contract.warehouse import Warehouse
from stacks_testing.suites import BaseTransformSuite, TransformHarness
from stacks_transform_dbt import DbtTransform

HERE = Path(__file__).parent


class ShopDbtHarness(TransformHarness):
    def __init__(self, shop) -> None:
        self.shop = shop

    def make_transform(self) -> Transform:
        return DbtTransform(HERE / "project")

    def seed(self, warehouse: Warehouse) -> None:
        self.shop.seed(warehouse)

    def change_upstream(self, warehouse: Warehouse) -> None:
        self.shop.update_order(warehouse, 3, 999)

    def transform_factory(self) -> str:
        return f"{HERE / 'factory_shop.py'}:make"


class TestDbtConformance(BaseTransformSuite):
    @pytest.fixture
    def transform_harness(self, warehouse, tmp_path, shop) -> TransformHarness:
        return ShopDbtHarness(shop)
