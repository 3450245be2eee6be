"""A connection defined through the local engine's public API, as with a real Airbyte: a
workspace, a source (the shop manifest), a destination (DuckDB), the source's streams, the
connection created and then patched with the airbyte-api SDK, and a sync by AirbyteStep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from airbyte_api import AirbyteAPI, models
from airbyte_api import api as requests_
from stacks_contract.models import RunRequest
from stacks_core.sql import connect
from stacks_el_airbyte import AirbyteStep
from stacks_el_airbyte.local.server import LocalEngine

pytestmark = pytest.mark.timeout(300)


def test_a_connection_defined_through_the_api_syncs(shop: Any, tmp_path: Path) -> None:
    with LocalEngine([]) as engine:
        token = httpx.post(
            f"{engine.url}/applications/token",
            json={"client_id": engine.client_id, "client_secret": engine.client_secret},
        ).json()["access_token"]
        http = httpx.Client(
            base_url=engine.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        sdk = AirbyteAPI(
            server_url=engine.url,
            security=models.Security(
                client_credentials=models.SchemeClientCredentials(
                    client_id=engine.client_id,
                    client_secret=engine.client_secret,
                    token_url=f"{engine.url}/applications/token",
                )
            ),
        )
        (workspace,) = http.get("/workspaces").json()["data"]
        source = http.post(
            "/sources",
            json={
                "name": "shop",
                "workspaceId": workspace["workspaceId"],
                "configuration": {"sourceType": "shop", "url": shop.url},
            },
        ).json()
        destination = http.post(
            "/destinations",
            json={
                "name": "warehouse",
                "workspaceId": workspace["workspaceId"],
                "configuration": {
                    "destinationType": "duckdb",
                    "destination_path": str(tmp_path / "w.duckdb"),
                    "schema": "raw",
                },
            },
        ).json()
        assert http.get(f"/sources/{source['sourceId']}").json()["name"] == "shop"
        streams = http.get("/streams", params={"sourceId": source["sourceId"]}).json()
        props = {s["streamName"]: models.StreamProperties.model_validate(s) for s in streams}
        assert set(props) == {"customers", "products", "orders", "payments"}
        assert props["orders"].source_defined_primary_key == [["id"]]
        assert props["orders"].default_cursor_field == ["updated_at"]
        assert models.ConnectionSyncModeEnum.INCREMENTAL_DEDUPED_HISTORY in (
            props["orders"].sync_modes or []
        )

        created = sdk.connections.create_connection(
            request=models.ConnectionCreateRequest(
                source_id=source["sourceId"],
                destination_id=destination["destinationId"],
                name="shop -> warehouse",
                namespace_definition=models.NamespaceDefinitionEnum.DESTINATION,
                configurations=models.StreamConfigurations(
                    streams=[models.StreamConfiguration(name="customers")]
                ),
            )
        ).connection_response
        assert created is not None
        connection_id = created.connection_id
        assert (created.source_id, created.destination_id) == (
            source["sourceId"],
            destination["destinationId"],
        )
        patched = sdk.connections.patch_connection(
            request=requests_.PatchConnectionRequest(
                connection_id=connection_id,
                connection_patch_request=models.ConnectionPatchRequest(
                    configurations=models.StreamConfigurations(
                        streams=[
                            models.StreamConfiguration(
                                name=name,
                                sync_mode=models.ConnectionSyncModeEnum.INCREMENTAL_DEDUPED_HISTORY,
                            )
                            for name in ("customers", "orders")
                        ]
                    )
                ),
            )
        ).connection_response
        assert patched is not None
        assert [s.name for s in patched.configurations.streams or []] == ["customers", "orders"]

        step = AirbyteStep(
            "shop", connection_id, ["customers", "orders"], poll_interval_s=0.1, env=engine.env()
        )
        result = step.run(RunRequest(stack="t"), step_warehouse(tmp_path))
        counts = shop.counts()
        assert result.rows == {"raw.customers": counts["customers"], "raw.orders": counts["orders"]}
        with connect(step_warehouse(tmp_path)) as conn:
            assert conn.count("raw", "orders") == counts["orders"]

        assert http.delete(f"/connections/{connection_id}").status_code == 204
        assert http.get(f"/connections/{connection_id}").status_code == 404
        bad = http.post("/sources", json={"name": "x", "configuration": {"sourceType": "nope"}})
        assert bad.status_code == 400 and "shop" in bad.json()["detail"]


def step_warehouse(tmp_path: Path) -> Any:
    from stacks_contract.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(path=tmp_path / "w.duckdb")
