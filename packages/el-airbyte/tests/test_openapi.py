"""Every response of the local engine's public API, checked against Airbyte's published OpenAPI
schemas (vendored excerpt in tests/openapi/, strict: no undeclared property) and parsed by the
airbyte-api SDK's own typed models."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from airbyte_api import models
from jsonschema import Draft202012Validator
from stacks_el_airbyte.local.api import Request

pytestmark = pytest.mark.timeout(60)

SPEC = Path(__file__).with_name("openapi") / "airbyte_public_api.yaml"
#: (method, path pattern after the base path, status) -> schema name, SDK model
SCHEMAS: dict[tuple[str, str, int], tuple[str, Any]] = {
    ("POST", "/applications/token", 200): ("PublicAccessTokenResponse", None),
    ("GET", "/connections", 200): ("ConnectionsResponse", models.ConnectionsResponse),
    ("GET", "/connections/{id}", 200): ("ConnectionResponse", models.ConnectionResponse),
    ("POST", "/jobs", 200): ("JobResponse", models.JobResponse),
    ("GET", "/jobs", 200): ("JobsResponse", models.JobsResponse),
    ("GET", "/jobs/{id}", 200): ("JobResponse", models.JobResponse),
    ("DELETE", "/jobs/{id}", 200): ("JobResponse", models.JobResponse),
}


def strict(node: Any) -> Any:
    """The description's schemas with ``additionalProperties: false`` on every object that lists
    its properties: a field name the engine invents fails validation."""
    if isinstance(node, dict):
        out = {k: strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    spec = strict(yaml.safe_load(SPEC.read_text()))
    out = {}
    for name in spec["components"]["schemas"]:
        schema = {**copy.deepcopy(spec), "$ref": f"#/components/schemas/{name}"}
        out[name] = Draft202012Validator(schema)
    return out


def endpoint(path: str) -> str:
    for base in ("/api/public/v1", "/v1"):
        if path.startswith(base):
            path = path[len(base) :]
    parts = path.rstrip("/").split("/")
    if len(parts) == 3 and parts[1] != "applications":
        parts[2] = "{id}"
    return "/".join(parts)


def test_every_response_matches_airbytes_openapi_description(
    engine_factory: Any, make_connection: Any, duckdb_warehouse: Any, validators: Any
) -> None:
    conns = [make_connection(duckdb_warehouse, name=f"c{i}") for i in range(23)]
    conns.append(make_connection(duckdb_warehouse, name="elsewhere", workspace_id="1" * 32))
    engine = engine_factory(conns)
    seen: list[tuple[Request, int, Any]] = []
    handle = engine.api.handle

    def recording(req: Request) -> Any:
        status, body = handle(req)
        seen.append((req, status, body))
        return status, body

    engine.api.handle = recording  # type: ignore[method-assign]
    conn_id = conns[0].connection_id
    for base in (engine.url, f"{engine.origin}/v1"):
        http = httpx.Client(base_url=base, timeout=10)
        http.get("/jobs")  # 401
        auth = http.post(
            "/applications/token",
            json={"client_id": engine.client_id, "client_secret": engine.client_secret},
        ).json()
        http.headers["Authorization"] = f"Bearer {auth['access_token']}"
        http.get("/health")
        http.get("/connections")
        http.get("/connections", params={"limit": 5, "offset": 20})
        http.get("/connections", params={"limit": 500})  # 400
        http.get(f"/connections/{conn_id}")
        http.get("/connections/unknown")  # 404
        engine.inject(conn_id, delay_s=0.3, fail_attempts=1)
        job = http.post("/jobs", json={"connectionId": conn_id, "jobType": "sync"}).json()
        http.post("/jobs", json={"connectionId": conn_id, "jobType": "sync"})  # 409
        http.post("/jobs", json={"connectionId": conn_id})  # 400
        while http.get(f"/jobs/{job['jobId']}").json()["status"] not in ("succeeded", "failed"):
            time.sleep(0.02)
        other = conns[1].connection_id
        slow = http.post("/jobs", json={"connectionId": other, "jobType": "refresh"})
        http.delete(f"/jobs/{slow.json()['jobId']}")
        http.get("/jobs", params={"connectionId": conn_id, "orderBy": "updatedAt|ASC"})
        http.get("/jobs", params={"status": "succeeded", "jobType": "sync", "limit": 1})
        http.get("/jobs/999")  # 404
        scoped_id, scoped_secret = engine.add_application(conns[-1].workspace_id)
        scoped = http.post(
            "/applications/token", data={"client_id": scoped_id, "client_secret": scoped_secret}
        ).json()
        http.get(
            f"/connections/{conn_id}", headers={"Authorization": f"Bearer {scoped['access_token']}"}
        )  # 403

    checked: set[tuple[str, str, int]] = set()
    statuses: set[int] = set()
    for req, status, body in seen:
        key = (req.method, endpoint(req.path), status)
        statuses.add(status)
        if status >= 400:
            validators["BaseProblemFields"].validate(body)
            assert body["status"] == status and body["detail"]
            continue
        if key[1] == "/health":
            continue
        name, model = SCHEMAS[key]
        validators[name].validate(body)
        if model is not None:
            model.model_validate(body)  # the SDK's own parsing, field by field
        checked.add(key)
    assert checked == set(SCHEMAS)
    assert statuses == {200, 400, 401, 403, 404, 409}
