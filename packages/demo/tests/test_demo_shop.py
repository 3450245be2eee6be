"""The demo shop API: deterministic, paginated, incremental, and it changes when advanced."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from stacks_demo.shop import ShopServer, ShopState


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def all_rows(base: str, resource: str, **params: str) -> list[dict]:
    rows, page = [], 1
    while page:
        query = "&".join([f"page={page}", "page_size=37", *(f"{k}={v}" for k, v in params.items())])
        body = get(f"{base}/{resource}?{query}")
        rows += body["data"]
        page = body["next_page"]
    return rows


def test_same_seed_and_days_serve_identical_data():
    a, b = ShopState(seed=7), ShopState(seed=7)
    a.advance(2)
    b.advance(1)
    b.advance(1)
    assert a.tables == b.tables
    assert ShopState(seed=8).tables != ShopState(seed=7).tables


def test_pagination_returns_every_row_once_sorted_by_updated_at():
    with ShopServer(seed=1) as shop:
        rows = all_rows(shop.url, "orders")
        assert len(rows) == shop.counts()["orders"] == 200
        assert len({r["id"] for r in rows}) == len(rows)
        assert [(r["updated_at"], r["id"]) for r in rows] == sorted(
            (r["updated_at"], r["id"]) for r in rows
        )
        assert all(r["items"] and r["items"][0]["line"] == 1 for r in rows)


def test_advance_adds_and_changes_rows_visible_through_updated_since():
    with ShopServer(seed=3) as shop:
        before = {r["id"]: r for r in all_rows(shop.url, "orders")}
        v0 = get(f"{shop.url}/version")["version"]
        shop.advance()
        assert get(f"{shop.url}/version")["version"] != v0
        since = max(r["updated_at"] for r in before.values())
        changed = all_rows(shop.url, "orders", updated_since=since)
        new = [r for r in changed if r["id"] not in before]
        updated = [r for r in changed if r["id"] in before and r != before[r["id"]]]
        assert len(new) == 20
        assert updated, "advancing must change some existing orders"
        assert all(r["updated_at"] >= since for r in changed)


def test_bad_requests_are_400_and_404_with_a_reason():
    with ShopServer() as shop:
        for path, status, text in [
            ("/orders?updated_since=yesterday", 400, "ISO-8601"),
            ("/orders?page_size=5000", 400, "page_size"),
            ("/refunds", 404, "unknown resource"),
        ]:
            with pytest.raises(urllib.error.HTTPError) as err:
                get(shop.url + path)
            assert err.value.code == status
            assert text in err.value.read().decode()
