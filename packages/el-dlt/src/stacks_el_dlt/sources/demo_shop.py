"""The shop stacks' EL step: the demo shop API source, with the shop's URL read at run time.

:class:`~stacks_el_dlt.ShopApiStep` binds its URL when it is built; a shop stack builds its steps
once and starts (or finds) the shop per session, so this source factory reads
``STACKS_SHOP_URL`` each time it builds a source (in a worker too). Every shop stack uses it.
Order lines get their ``order_id`` before dlt unnests them into ``orders__items``, so models
join on a business key, not on dlt's internal ``_dlt_parent_id``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from stacks_contract.ports import ChangeProbe

from stacks_el_dlt.sources.shop import shop_api_source, shop_version
from stacks_el_dlt.step import DltStep

#: where the shop is; the stack's session sets it when it starts a shop of its own
SHOP_URL_ENV = "STACKS_SHOP_URL"
#: `python -m stacks_testing.demo.shop` listens here by default (`dagster dev`, a worker)
DEFAULT_SHOP_URL = "http://127.0.0.1:8765"
TABLES = ("customers", "products", "orders", "orders__items", "payments")


def shop_url() -> str:
    return os.environ.get(SHOP_URL_ENV, DEFAULT_SHOP_URL).rstrip("/")


def _with_order_id(order: dict[str, Any]) -> dict[str, Any]:
    items = order.get("items") or []
    return {**order, "items": [{"order_id": order["id"], **item} for item in items]}


def shop_source() -> Any:
    """A fresh dlt source over the shop at :func:`shop_url` (dlt cannot rerun a source)."""
    source = shop_api_source(shop_url())
    source.resources["orders"].add_map(_with_order_id)
    return source


__all__ = ["DEFAULT_SHOP_URL", "SHOP_URL_ENV", "TABLES", "ShopStep", "shop_source", "shop_url"]


class ShopStep(DltStep, ChangeProbe):
    """Loads the shop's customers, products, orders (+ ``orders__items``) and payments."""

    incremental: ClassVar[bool] = True

    def __init__(self, name: str = "shop", **kw: Any) -> None:
        super().__init__(name, shop_source, **kw)

    def source_version(self) -> str:
        return shop_version(shop_url(), self.name)
