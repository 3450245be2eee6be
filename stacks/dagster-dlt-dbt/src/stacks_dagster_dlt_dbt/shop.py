"""The demo shop API as a dlt ``rest_api`` source, and the EL step that loads it.

Each endpoint is a merge resource keyed on ``id`` and incremental on ``updated_at`` (the API's
``updated_since`` filter is inclusive; dlt drops the boundary rows it has already seen), so a
second run against an unchanged shop loads 0 rows and changed rows are upserted, never duplicated.
Order lines arrive nested in each order and land in the dlt child table ``orders__items``; each
line gets its ``order_id`` so models need no dlt-internal join keys.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.ports import ChangeProbe
from stacks_el_dlt import DltStep

#: where the shop is; the stack's session sets it when it starts a shop of its own
SHOP_URL_ENV = "STACKS_SHOP_URL"
#: `python -m stacks_contract.demo.shop` listens here by default (used by `dagster dev`)
DEFAULT_SHOP_URL = "http://127.0.0.1:8765"
RESOURCES = ("customers", "products", "orders", "payments")
TABLES = ("customers", "products", "orders", "orders__items", "payments")


def shop_url() -> str:
    return os.environ.get(SHOP_URL_ENV, DEFAULT_SHOP_URL).rstrip("/")


def _with_order_id(order: dict[str, Any]) -> dict[str, Any]:
    items = order.get("items") or []
    return {**order, "items": [{"order_id": order["id"], **item} for item in items]}


def shop_source(base_url: str | None = None) -> Any:
    """A fresh dlt source over the shop API (dlt cannot run one source object twice)."""
    from dlt.sources.rest_api import rest_api_source

    resources: list[dict[str, Any]] = []
    for name in RESOURCES:
        res: dict[str, Any] = {
            "name": name,
            "endpoint": {
                "path": name,
                "incremental": {
                    "start_param": "updated_since",
                    "cursor_path": "updated_at",
                    "initial_value": "1970-01-01T00:00:00Z",
                },
            },
        }
        if name == "orders":
            res["processing_steps"] = [{"map": _with_order_id}]
        resources.append(res)
    return rest_api_source(
        {
            "client": {
                "base_url": (base_url or shop_url()) + "/",
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_page",
                    "cursor_param": "page",
                },
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {"data_selector": "data", "params": {"page_size": 1000}},
            },
            "resources": resources,
        },
        name="shop",
    )


class ShopStep(DltStep, ChangeProbe):
    """el-dlt's step over the shop source, plus a cheap change probe (``GET /version``)."""

    incremental = True

    def __init__(self, name: str = "shop", **kw: Any) -> None:
        super().__init__(name, shop_source, tables=TABLES, **kw)

    def source_version(self) -> str:
        url = f"{shop_url()}/version"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return str(json.load(resp)["version"])
        except OSError as exc:
            raise ConfigError(f"The shop API at {shop_url()} does not answer: {exc}.") from None
