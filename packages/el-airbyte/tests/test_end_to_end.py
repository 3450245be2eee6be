"""End to end: the demo shop's declarative manifest, run by the local engine's default executor
(airbyte-cdk), driven by AirbyteStep over HTTP, into DuckDB and Postgres."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import stacks_el_airbyte
from stacks_contract.models import RunRequest
from stacks_core.sql import connect
from stacks_demo.shop import ShopServer
from stacks_el_airbyte import AirbyteStep
from stacks_el_airbyte.local.model import ConnectionConfig, StreamConfig
from stacks_el_airbyte.local.server import LocalEngine

pytestmark = pytest.mark.timeout(300)

STREAMS = ("customers", "products", "orders", "payments")
MANIFEST = Path(stacks_el_airbyte.__file__).parent / "manifests" / "shop.yaml"


def test_the_shop_through_the_local_engine(warehouse: Any) -> None:
    with ShopServer(seed=7, customers=30, products=10, orders=120) as shop:
        connection = ConnectionConfig(
            connection_id=str(uuid.uuid4()),
            name="shop",
            source_manifest=MANIFEST,
            source_config={"url": shop.url, "page_size": 50},
            streams=tuple(
                StreamConfig(s, "incremental_deduped_history", ("id",), "updated_at")
                for s in STREAMS
            ),
            destination=warehouse,
            namespace="raw",
        )
        with LocalEngine([connection]) as engine:  # the default executor: airbyte-cdk
            step = AirbyteStep(
                "shop", "shop", STREAMS, poll_interval_s=0.1, env=engine.env()
            )  # looked up by name
            first = step.run(RunRequest(stack="test"), warehouse)
            expected = {f"raw.{t}": n for t, n in shop.counts().items()}
            assert first.rows == expected
            # a second run rewrites at most the boundary record of each stream (the shop's
            # updated_since is inclusive) and duplicates nothing
            second = step.run(RunRequest(stack="test"), warehouse)
            assert all(n <= 1 for n in second.rows.values())
            with connect(warehouse) as db:
                assert {f"raw.{t}": db.count("raw", t) for t in STREAMS} == expected
            shop.advance(1)
            third = step.run(RunRequest(stack="test"), warehouse)
            assert third.total_rows > 0
        with connect(warehouse) as db:
            in_warehouse = {f"raw.{t}": db.count("raw", t) for t in STREAMS}
        assert in_warehouse == {f"raw.{t}": n for t, n in shop.counts().items()}


def test_python_m_serves_connections_from_yaml(tmp_path: Path, duckdb_warehouse: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ShopServer(seed=3, customers=10, products=5, orders=20) as shop:
        (tmp_path / "connections.yaml").write_text(
            "connections:\n"
            "  - name: shop\n"
            "    source_manifest: shop\n"
            f"    source_config: {{url: '{shop.url}'}}\n"
            f"    destination: duckdb://{duckdb_warehouse.path}\n"
            "    namespace: raw\n"
            "    streams:\n"
            + "".join(
                f"      - {{name: {s}, primary_key: [id], cursor_field: updated_at}}\n"
                for s in STREAMS
            )
        )
        env = {
            **os.environ,
            "AIRBYTE_CLIENT_ID": "cli-client",
            "AIRBYTE_CLIENT_SECRET": "cli-s3cret",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stacks_el_airbyte.local",
                str(tmp_path / "connections.yaml"),
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            url = f"http://127.0.0.1:{port}/api/public/v1"
            assert first.strip() == f"Airbyte public API at {url} (also http://127.0.0.1:{port}/v1)"
            step = AirbyteStep(
                "shop",
                "shop",
                STREAMS,
                poll_interval_s=0.1,
                env={
                    "AIRBYTE_SERVER_URL": url,
                    "AIRBYTE_CLIENT_ID": "cli-client",
                    "AIRBYTE_CLIENT_SECRET": "cli-s3cret",
                },
            )
            deadline = time.monotonic() + 60
            result = None
            while result is None:
                try:
                    result = step.run(RunRequest(stack="test"), duckdb_warehouse)
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            assert result.rows == {f"raw.{t}": n for t, n in shop.counts().items()}
        finally:
            proc.terminate()
            output = proc.communicate(timeout=30)[0]
        assert "cli-s3cret" not in output
