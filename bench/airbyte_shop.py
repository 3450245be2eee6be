"""The demo shop at 100k orders through the local Airbyte engine's executor (CdkExecutor) and
through el-dlt's shop source (dlt, merge on id), into DuckDB and Postgres: seconds and records/s.

    uv run python bench/airbyte_shop.py [--orders 100000] [--only duckdb|postgres] [--no-dlt]

Each run: a fresh warehouse, the same shop (seed 42) served in this process, one full first sync.
Measured 2026-11-28 (193,855 records, load ~2 on 2 cores): DuckDB airbyte 47.2 s / dlt 120.1 s,
Postgres airbyte 44.8 s / dlt 50.9 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stacks_contract.warehouse import DuckDBWarehouse, Warehouse
from stacks_demo.shop import ShopServer

STREAMS = ("customers", "products", "orders", "payments")


def airbyte(url: str, wh: Warehouse) -> int:
    from stacks_el_airbyte.local.executor import CdkExecutor
    from stacks_el_airbyte.local.model import ConnectionConfig, JobContext, StreamConfig
    from stacks_el_airbyte.manifests import SHOP_MANIFEST

    conn = ConnectionConfig(
        connection_id="bench",
        name="shop",
        source_manifest=SHOP_MANIFEST,
        source_config={"url": url},
        streams=tuple(StreamConfig(n, "incremental_deduped_history") for n in STREAMS),
        destination=wh,
    )
    return CdkExecutor().run(conn, JobContext(1, "sync")).records_synced


def dlt_run(url: str, wh: Warehouse, work: Path) -> int:
    import dlt
    from stacks_el_dlt.sources.shop import shop_api_source

    os.environ["DLT_DATA_DIR"] = str(work / "dlt")
    if isinstance(wh, DuckDBWarehouse):
        dest: Any = dlt.destinations.duckdb(str(wh.path))
    else:
        creds = wh.libpq_params()
        dest = dlt.destinations.postgres(
            {
                "host": creds["host"],
                "port": int(creds["port"]),
                "database": creds["dbname"],
                "username": creds["user"],
                "password": wh.password.get_secret_value() or "unused",
            }
        )
    pipe = dlt.pipeline(
        pipeline_name="bench_shop", destination=dest, dataset_name="raw", pipelines_dir=str(work)
    )
    fmt = None if isinstance(wh, DuckDBWarehouse) else "csv"  # csv: COPY on Postgres
    pipe.run(shop_api_source(url), loader_file_format=fmt)
    from stacks_core.sql import connect

    with connect(wh) as c:  # rows kept (a first load: the records read)
        return sum(c.count("raw", t) for t in STREAMS)


@contextlib.contextmanager
def warehouses(only: str | None) -> Iterator[dict[str, Any]]:
    from stacks_testing.postgres import postgres_server

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        made: dict[str, Any] = {}
        if only in (None, "duckdb"):
            n = iter(range(100))
            made["duckdb"] = lambda: DuckDBWarehouse(path=Path(tmp) / f"w{next(n)}.duckdb")
        if only in (None, "postgres"):
            server = stack.enter_context(postgres_server())
            made["postgres"] = server.create_database
        yield made


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--only", choices=["duckdb", "postgres"])
    ap.add_argument("--no-dlt", action="store_true")
    args = ap.parse_args()
    with ShopServer(seed=42, orders=args.orders, customers=5_000, products=500) as shop:
        print("shop:", shop.counts(), flush=True)
        with warehouses(args.only) as made, tempfile.TemporaryDirectory() as work:
            for kind, make in made.items():
                tools = [("airbyte", lambda wh: airbyte(shop.url, wh))]
                if not args.no_dlt:
                    tools.append(("dlt", lambda wh, k=kind: dlt_run(shop.url, wh, Path(work) / k)))
                for tool, run in tools:
                    t = time.perf_counter()
                    n = run(make())
                    dt = time.perf_counter() - t
                    rate = n / dt
                    print(f"{kind:8} {tool:8} {n:7d} records {dt:7.1f} s {rate:8.0f} records/s")


if __name__ == "__main__":
    main()
