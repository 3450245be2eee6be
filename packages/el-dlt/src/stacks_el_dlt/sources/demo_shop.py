"""The shop stacks' EL step: the demo shop API source, with the shop's URL read at run time.

:class:`~stacks_el_dlt.ShopApiStep` binds its URL when it is built; a shop stack builds its steps
once and starts (or finds) the shop per session, so this source factory reads
``STACKS_SHOP_URL`` each time it builds a source (in a worker too). Every shop stack uses it.

The shop stacks' raw contract (what every EL tool writes for the shop, so one dbt project reads
either): tables ``customers``, ``products``, ``orders``, ``payments`` with the API's fields as typed
columns, the order lines as the JSON array column ``orders.items`` (Airbyte's destinations write
nested arrays so; dlt would make a child table), plus each tool's own metadata columns.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from stacks_contract.ports import ChangeProbe

from stacks_el_dlt.sources.shop import shop_api_source, shop_version
from stacks_el_dlt.step import DltStep

#: where the shop is; the stack's session sets it when it starts a shop of its own
SHOP_URL_ENV = "STACKS_SHOP_URL"
#: `python -m stacks_demo.shop` listens here by default (`dagster dev`, a worker)
DEFAULT_SHOP_URL = "http://127.0.0.1:8765"
TABLES = ("customers", "products", "orders", "payments")


def shop_url() -> str:
    return os.environ.get(SHOP_URL_ENV, DEFAULT_SHOP_URL).rstrip("/")


def shop_source() -> Any:
    """A fresh dlt source over the shop at :func:`shop_url` (dlt cannot rerun a source)."""
    return shop_api_source(shop_url(), nested_items="json")


__all__ = ["DEFAULT_SHOP_URL", "SHOP_URL_ENV", "TABLES", "ShopStep", "shop_source", "shop_url"]


class ShopStep(DltStep, ChangeProbe):
    """Loads the shop's customers, products, orders (order lines in ``orders.items``) and
    payments."""

    incremental: ClassVar[bool] = True

    def __init__(self, name: str = "shop", **kw: Any) -> None:
        # the raw contract, declared: the manifest (`stacks plan`) needs no dlt import to know
        # it; a test checks it equals the tables the source builds
        kw.setdefault("tables", TABLES)
        super().__init__(name, shop_source, **kw)

    def source_version(self) -> str:
        return shop_version(shop_url(), self.name)
