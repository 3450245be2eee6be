"""A deterministic "shop" HTTP API on localhost: customers, products, orders, payments.

The data is a pure function of ``(seed, days advanced)``: two servers with the same seed that were
advanced the same number of days serve byte-identical pages, which is what lets tests compare a
warehouse loaded once with one loaded three times. :meth:`ShopServer.advance` moves the clock one
day: new customers, orders and payments appear and some existing orders and payments change
(status, ``updated_at``), so incremental loads have something to merge.

Endpoints (JSON): ``GET /customers|/products|/orders|/payments`` with ``page`` (1-based),
``page_size`` (default 100, at most 1000) and ``updated_since`` (ISO-8601, inclusive), rows sorted
by ``(updated_at, id)``; response ``{"data", "page", "page_size", "total", "next_page"}``.
``GET /version`` -> ``{"version": token}``; ``POST /admin/advance?days=N`` moves the clock.

Run alone: ``python -m stacks_demo.shop --port 8765``.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RESOURCES = ("customers", "products", "orders", "payments")
MAX_PAGE_SIZE = 1000
_COUNTRIES = ("DE", "FR", "NL", "US", "GB", "ES", "IT", "PL")
_FIRST = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Donald",
    "Frances",
)
_LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Dijkstra", "Liskov", "Thompson", "Hamilton")
_CATEGORIES = ("books", "games", "tools", "garden", "kitchen")
_ORDER_FLOW = ("placed", "paid", "shipped", "delivered")
_METHODS = ("card", "paypal", "transfer")


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text: str) -> datetime:
    """ISO-8601 with ``Z``, an offset, or none (UTC). A ``+`` decoded to a space is repaired."""
    text = text.strip()
    if len(text) > 19 and text[19] == " ":  # "...T00:00:00 00:00": '+' arrived unescaped
        text = text[:19] + "+" + text[20:]
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"updated_since must be an ISO-8601 timestamp, got {text!r}") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class ShopState:
    """The shop's data, deterministic from ``seed``; thread-safe."""

    def __init__(
        self, seed: int = 42, customers: int = 50, products: int = 20, orders: int = 200
    ) -> None:
        self.seed = seed
        self.day = 0
        self._lock = threading.Lock()
        self.tables: dict[str, dict[int, dict[str, Any]]] = {r: {} for r in RESOURCES}
        self._sorted_rows: dict[str, list[dict[str, Any]]] = {}
        self._sorted_key: dict[str, tuple[str, int, int]] = {}
        self._edits = 0  # bumped by update_row(): rows change outside advance()
        rng = random.Random(seed)
        start = T0 - timedelta(days=30)
        for _ in range(products):
            self._new_product(rng, start + timedelta(minutes=rng.randrange(60 * 24 * 3)))
        for _ in range(customers):
            self._new_customer(rng, start + timedelta(minutes=rng.randrange(60 * 24 * 30)))
        for _ in range(orders):
            created = start + timedelta(minutes=rng.randrange(60 * 24 * 30))
            self._new_order(rng, created, T0)

    # --- generation -----------------------------------------------------------------------------

    @staticmethod
    def _next_id(table: dict[int, dict[str, Any]]) -> int:
        return len(table) + 1

    def _new_customer(self, rng: random.Random, at: datetime) -> None:
        cid = self._next_id(self.tables["customers"])
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        self.tables["customers"][cid] = {
            "id": cid,
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{cid}@example.com",
            "country": rng.choice(_COUNTRIES),
            "created_at": iso(at),
            "updated_at": iso(at),
        }

    def _new_product(self, rng: random.Random, at: datetime) -> None:
        pid = self._next_id(self.tables["products"])
        self.tables["products"][pid] = {
            "id": pid,
            "sku": f"SKU-{pid:05d}",
            "name": f"Product {pid}",
            "category": rng.choice(_CATEGORIES),
            "price": round(rng.uniform(2, 200), 2),
            "created_at": iso(at),
            "updated_at": iso(at),
        }

    def _new_order(self, rng: random.Random, created: datetime, now: datetime) -> None:
        oid = self._next_id(self.tables["orders"])
        items = []
        for line in range(1, rng.randint(1, 4) + 1):
            product = self.tables["products"][rng.randint(1, len(self.tables["products"]))]
            items.append(
                {
                    "line": line,
                    "product_id": product["id"],
                    "quantity": rng.randint(1, 5),
                    "unit_price": product["price"],
                }
            )
        amount = round(sum(i["quantity"] * i["unit_price"] for i in items), 2)
        # orders created before "now" may already have moved along the flow
        steps = min(len(_ORDER_FLOW) - 1, max(0, (now - created).days // 7 + rng.randint(0, 1)))
        updated = min(now, created + timedelta(hours=6 * steps))
        self.tables["orders"][oid] = {
            "id": oid,
            "customer_id": rng.randint(1, len(self.tables["customers"])),
            "status": _ORDER_FLOW[steps],
            "amount": amount,
            "currency": "EUR",
            "created_at": iso(created),
            "updated_at": iso(updated),
            "items": items,
        }
        if steps >= 1:
            self._new_payment(rng, oid, amount, created + timedelta(hours=1))

    def _new_payment(self, rng: random.Random, order_id: int, amount: float, at: datetime) -> None:
        pid = self._next_id(self.tables["payments"])
        self.tables["payments"][pid] = {
            "id": pid,
            "order_id": order_id,
            "method": rng.choice(_METHODS),
            "amount": amount,
            "status": "captured",
            "created_at": iso(at),
            "updated_at": iso(at),
        }

    def advance(self, days: int = 1) -> None:
        """Move the clock ``days`` days; each day adds rows and changes some existing ones."""
        with self._lock:
            for _ in range(days):
                self.day += 1
                rng = random.Random(self.seed * 100_003 + self.day)
                today = T0 + timedelta(days=self.day - 1)
                for _ in range(3):
                    self._new_customer(rng, today + timedelta(minutes=rng.randrange(1440)))
                for _ in range(20):
                    created = today + timedelta(minutes=rng.randrange(1440))
                    self._new_order(rng, created, created)
                now = T0 + timedelta(days=self.day)
                open_orders = sorted(
                    oid for oid, o in self.tables["orders"].items() if o["status"] != "delivered"
                )
                for oid in rng.sample(open_orders, min(10, len(open_orders))):
                    order = self.tables["orders"][oid]
                    step = _ORDER_FLOW.index(order["status"]) + 1
                    order["status"] = _ORDER_FLOW[step]
                    order["updated_at"] = iso(now - timedelta(minutes=rng.randrange(1, 600)))
                    if order["status"] == "paid":
                        self._new_payment(rng, oid, order["amount"], parse_ts(order["updated_at"]))
                payments = sorted(self.tables["payments"])
                for pid in rng.sample(payments, min(2, len(payments))):
                    pay = self.tables["payments"][pid]
                    if pay["status"] == "captured":
                        pay["status"] = "refunded"
                        pay["updated_at"] = iso(now - timedelta(minutes=rng.randrange(1, 600)))
                cust = self.tables["customers"][rng.randint(1, len(self.tables["customers"]))]
                local = cust["email"].split("@")[0].split("+")[0]
                cust["email"] = f"{local}+d{self.day}@example.com"
                cust["updated_at"] = iso(now - timedelta(minutes=1))

    def update_row(self, resource: str, row_id: int, **fields: Any) -> dict[str, Any]:
        """Change one row's fields (tests: give ``updated_at`` too, so incremental loads see
        it); returns a copy of the row as the API now serves it."""
        with self._lock:
            row = self.tables[resource][row_id]
            row.update(fields)
            self._edits += 1
            return json.loads(json.dumps(row))

    # --- reading --------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return f"{self.seed}-{self.day}"

    def _sorted(self, resource: str) -> list[dict[str, Any]]:
        """``resource``'s rows sorted by ``(updated_at, id)``, kept until the clock moves (a
        large shop is paged through without sorting it once per page). Under the lock."""
        key = (resource, self.day, self._edits)
        if self._sorted_key.get(resource) != key:
            rows = sorted(self.tables[resource].values(), key=lambda r: (r["updated_at"], r["id"]))
            self._sorted_rows[resource], self._sorted_key[resource] = rows, key
        return self._sorted_rows[resource]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: len(rows) for name, rows in self.tables.items()}

    def page(
        self, resource: str, page: int = 1, page_size: int = 100, updated_since: str | None = None
    ) -> dict[str, Any]:
        if resource not in self.tables:
            raise KeyError(resource)
        since = parse_ts(updated_since) if updated_since else None
        with self._lock:
            rows = self._sorted(resource)
            if since is not None:  # ``updated_at`` strings sort as the instants they name
                first = bisect.bisect_left(rows, iso(since), key=lambda r: r["updated_at"])
                rows = rows[first:]
            start = (page - 1) * page_size
            # copies: a caller may change what it got, and advance() changes rows in place
            chunk = [json.loads(json.dumps(r)) for r in rows[start : start + page_size]]
        more = start + page_size < len(rows)
        return {
            "data": chunk,
            "page": page,
            "page_size": page_size,
            "total": len(rows),
            "next_page": page + 1 if more else None,
        }


class _Handler(BaseHTTPRequestHandler):
    state: ShopState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        name = parts.path.strip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if name == "version":
            return self._send(200, {"version": self.state.version})
        if name not in RESOURCES:
            return self._send(404, {"error": f"unknown resource {name!r}", "resources": RESOURCES})
        try:
            page = int(query.get("page", 1))
            size = int(query.get("page_size", 100))
            if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
                raise ValueError(f"page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}")
            body = self.state.page(name, page, size, query.get("updated_since"))
        except ValueError as exc:
            return self._send(400, {"error": str(exc)})
        return self._send(200, body)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.strip("/") != "admin/advance":
            return self._send(404, {"error": "unknown endpoint"})
        days = int({k: v[-1] for k, v in parse_qs(parts.query).items()}.get("days", 1))
        self.state.advance(days)
        return self._send(200, {"version": self.state.version, "counts": self.state.counts()})


class ShopServer:
    """The shop API in a background thread; a context manager. ``port=0`` picks a free port."""

    def __init__(self, seed: int = 42, host: str = "127.0.0.1", port: int = 0, **sizes: int):
        self.state = ShopState(seed=seed, **sizes)
        handler = type("ShopHandler", (_Handler,), {"state": self.state})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        if isinstance(host, bytes):  # typeshed allows it (AF_UNIX); a TCP server's is a str
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> ShopServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name="shop-api"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def advance(self, days: int = 1) -> None:
        self.state.advance(days)

    def counts(self) -> dict[str, int]:
        return self.state.counts()

    def __enter__(self) -> ShopServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def shop_running(url_env: str, seed: int = 42) -> Iterator[str]:
    """A shop for the duration of a stack's session: the one ``$url_env`` names, else a
    :class:`ShopServer` started here, its URL put in ``$url_env`` and taken out afterwards."""
    given = os.environ.get(url_env)
    if given:
        yield given
        return
    with ShopServer(seed=seed) as shop:
        os.environ[url_env] = shop.url
        try:
            yield shop.url
        finally:
            os.environ.pop(url_env, None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the deterministic demo shop API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    server = ShopServer(seed=args.seed, host=args.host, port=args.port)
    print(f"shop API on {server.url} (seed {args.seed}); POST /admin/advance to move the clock")
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
