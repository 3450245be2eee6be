"""The demo shop API (``stacks_demo.shop``) through dlt's ``rest_api`` source.

Pages follow the API's ``next_page``; the ``updated_since`` filter is pushed down to the API from
dlt's incremental cursor on ``updated_at`` (inclusive; dlt drops the boundary rows it has already
seen), so a run with no new data fetches one short page per endpoint and loads 0 rows. Every
resource merges on ``id``; ``orders.items`` becomes the child table ``orders__items``, or, with
``nested_items="json"``, stays a JSON array column of ``orders`` (the layout Airbyte's destinations
write, and the shop stacks' raw contract).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import partial
from typing import Any, Literal
from urllib.parse import urlsplit

from stacks_contract.errors import ConfigError, StepFailed
from stacks_contract.ports import ChangeProbe
from stacks_contract.warehouse import DEFAULT_SCHEMA

from stacks_el_dlt.step import DltStep

INITIAL_CURSOR = "1970-01-01T00:00:00Z"

_TS = {"data_type": "timestamp", "timezone": True}
_KEY = {"data_type": "bigint", "nullable": False}

#: declared column types: a row that breaks them is quarantined, not loaded as a variant column
SHOP_COLUMNS: dict[str, dict[str, dict[str, Any]]] = {
    "customers": {
        "id": _KEY,
        "name": {"data_type": "text"},
        "email": {"data_type": "text"},
        "country": {"data_type": "text"},
        "created_at": _TS,
        "updated_at": _TS,
    },
    "products": {
        "id": _KEY,
        "sku": {"data_type": "text"},
        "name": {"data_type": "text"},
        "category": {"data_type": "text"},
        "price": {"data_type": "double"},
        "created_at": _TS,
        "updated_at": _TS,
    },
    "orders": {
        "id": _KEY,
        "customer_id": {"data_type": "bigint"},
        "status": {"data_type": "text"},
        "amount": {"data_type": "double"},
        "currency": {"data_type": "text"},
        "created_at": _TS,
        "updated_at": _TS,
    },
    "payments": {
        "id": _KEY,
        "order_id": {"data_type": "bigint"},
        "method": {"data_type": "text"},
        "amount": {"data_type": "double"},
        "status": {"data_type": "text"},
        "created_at": _TS,
        "updated_at": _TS,
    },
}
ENDPOINTS: tuple[str, ...] = tuple(SHOP_COLUMNS)


def _check_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"The shop API URL {base_url!r} is not an http(s) URL (expected e.g. "
            "http://127.0.0.1:8765)."
        )
    return base_url.rstrip("/")


def shop_api_source(
    base_url: str,
    *,
    endpoints: tuple[str, ...] = ENDPOINTS,
    page_size: int = 1000,
    initial_cursor: str = INITIAL_CURSOR,
    nested_items: Literal["table", "json"] = "table",
) -> Any:
    """A fresh dlt ``rest_api`` source over the shop API at ``base_url``; ``nested_items``: the
    order lines as dlt's child table ``orders__items`` or as the JSON column ``orders.items``."""
    from dlt.sources.rest_api import rest_api_source

    base_url = _check_url(base_url)
    unknown = sorted(set(endpoints) - set(ENDPOINTS))
    if unknown:
        raise ConfigError(f"The shop API has no endpoint {', '.join(unknown)}.")
    resources: list[dict[str, Any]] = []
    for name in endpoints:
        resources.append(
            {
                "name": name,
                "columns": (
                    {**SHOP_COLUMNS[name], "items": {"data_type": "json"}}
                    if name == "orders" and nested_items == "json"
                    else SHOP_COLUMNS[name]
                ),
                "endpoint": {
                    "path": name,
                    "params": {
                        "page_size": page_size,
                        "updated_since": {
                            "type": "incremental",
                            "cursor_path": "updated_at",
                            "initial_value": initial_cursor,
                        },
                    },
                },
            }
        )
    config: dict[str, Any] = {
        "client": {
            "base_url": base_url + "/",
            "paginator": {"type": "cursor", "cursor_path": "next_page", "cursor_param": "page"},
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {"data_selector": "data"},
        },
        "resources": resources,
    }
    # a plain dict: dlt's hint is its RESTAPIConfig TypedDict, and dlt validates the dict itself
    source = rest_api_source(config, name="shop")  # type: ignore[arg-type]
    if "orders" in source.resources and nested_items == "table":
        # declared so produces() names the child table without fetching anything
        source.resources["orders"].apply_hints(nested_hints={"items": {}})
    return source


class ShopApiStep(DltStep, ChangeProbe):
    """The shop API as an EL step; :meth:`source_version` asks ``GET /version``."""

    incremental = True

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "shop",
        dataset: str = DEFAULT_SCHEMA,
        endpoints: tuple[str, ...] = ENDPOINTS,
        page_size: int = 1000,
        **kwargs: Any,
    ) -> None:
        self.base_url = _check_url(base_url)
        super().__init__(
            name,
            partial(shop_api_source, self.base_url, endpoints=endpoints, page_size=page_size),
            dataset=dataset,
            **kwargs,
        )
        self.source_hint = self.base_url

    def source_version(self) -> str:
        return shop_version(self.base_url, self.name)


def shop_version(base_url: str, step: str) -> str:
    """The shop API's change token (``GET /version``); :class:`StepFailed` naming ``step`` if
    the API does not answer."""
    url = f"{base_url.rstrip('/')}/version"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(json.load(resp)["version"])
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        raise StepFailed(step, f"cannot read the shop API version at {url}: {exc}") from None
