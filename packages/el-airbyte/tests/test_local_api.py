"""The local engine's HTTP API, through the airbyte-api SDK and plain HTTP: tokens, connections,
jobs and their lifecycle, 409 while a sync runs, failure modes, paging, base paths, 401/403/404."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from airbyte_api import AirbyteAPI, errors, models
from airbyte_api import api as ops
from stacks_el_airbyte.local.server import LocalEngine

pytestmark = pytest.mark.timeout(60)


def sdk(engine: LocalEngine, base: str | None = None) -> AirbyteAPI:
    url = base or engine.url
    return AirbyteAPI(
        server_url=url,
        security=models.Security(
            client_credentials=models.SchemeClientCredentials(
                client_id=engine.client_id,
                client_secret=engine.client_secret,
                token_url=f"{url}/applications/token",
            )
        ),
    )


def token(engine: LocalEngine) -> str:
    res = httpx.post(
        f"{engine.url}/applications/token",
        json={"client_id": engine.client_id, "client_secret": engine.client_secret},
    )
    return str(res.json()["access_token"])


def wait(api: AirbyteAPI, job_id: int, seen: list[str] | None = None) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = api.jobs.get_job(request=ops.GetJobRequest(job_id=job_id)).job_response
        status = job.status.value
        if seen is not None and (not seen or seen[-1] != status):
            seen.append(status)
        if status in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not end")


def start(api: AirbyteAPI, connection_id: str, kind: str = "sync") -> Any:
    kind_enum = models.JobTypeEnum(kind)
    request = models.JobCreateRequest(connection_id=connection_id, job_type=kind_enum)
    return api.jobs.create_job(request=request).job_response


@pytest.mark.parametrize("base", ["/api/public/v1", "/v1"])
def test_a_sync_runs_to_success_under_both_base_paths(engine: LocalEngine, base: str) -> None:
    api = sdk(engine, f"{engine.origin}{base}")
    assert api.health.get_health_check().status_code == 200
    (conn_id,) = engine.connections
    conn = api.connections.get_connection(
        request=ops.GetConnectionRequest(connection_id=conn_id)
    ).connection_response
    assert (conn.name, conn.configurations.streams[0].name) == ("shop", "customers")

    job = start(api, conn_id)
    assert job.job_type == models.JobTypeEnum.SYNC and job.connection_id == conn_id
    done = wait(api, job.job_id)
    assert done.status == models.JobStatusEnum.SUCCEEDED
    assert done.rows_synced == 5 and done.bytes_synced > 0
    assert done.duration.startswith("PT") and done.start_time.endswith("Z")

    listed = api.jobs.list_jobs(request=ops.ListJobsRequest(connection_id=conn_id)).jobs_response
    assert [j.job_id for j in listed.data] == [job.job_id]


def test_a_second_sync_while_one_runs_is_409_with_airbytes_problem(engine: LocalEngine) -> None:
    (conn_id,) = engine.connections
    engine.inject(conn_id, delay_s=5)
    api = sdk(engine)
    first = start(api, conn_id)
    with pytest.raises(errors.SDKError) as caught:
        start(api, conn_id)
    assert caught.value.status_code == 409
    body = caught.value.raw_response.json()
    assert body["title"] == "try-again-later"
    assert body["detail"] == f"A sync is already running for: {conn_id}"
    running = api.jobs.list_jobs(
        request=ops.ListJobsRequest(connection_id=conn_id, status=models.JobStatusEnum.RUNNING)
    ).jobs_response.data
    assert [j.job_id for j in running] == [first.job_id]
    api.jobs.cancel_job(request=ops.CancelJobRequest(job_id=first.job_id))
    assert wait(api, first.job_id).status == models.JobStatusEnum.CANCELLED


def test_a_failed_attempt_is_retried_and_the_job_is_incomplete_meanwhile(
    engine_factory: Any, duck_connection: Any
) -> None:
    engine = engine_factory([duck_connection], retry_wait_s=0.5)
    conn_id = duck_connection.connection_id
    engine.inject(conn_id, fail_attempts=1)
    api = sdk(engine)
    seen: list[str] = []
    job = wait(api, start(api, conn_id).job_id, seen)
    assert job.status == models.JobStatusEnum.SUCCEEDED
    assert "incomplete" in seen and seen[-1] == "succeeded"
    attempts = engine.jobs.get(job.job_id).attempts  # type: ignore[union-attr]
    assert [a.status for a in attempts] == ["failed", "succeeded"]


def test_failure_modes_failed_and_cancelled_by_the_server(engine: LocalEngine) -> None:
    (conn_id,) = engine.connections
    api = sdk(engine)
    engine.inject(conn_id, fail_job=True)
    failed = wait(api, start(api, conn_id).job_id)
    assert failed.status == models.JobStatusEnum.FAILED
    assert len(engine.jobs.get(failed.job_id).attempts) == 3  # type: ignore[union-attr]
    engine.inject(conn_id, cancel=True)
    assert wait(api, start(api, conn_id).job_id).status == models.JobStatusEnum.CANCELLED
    # the failure reason is in the configuration API's job info (the public job has none)
    info = httpx.post(
        f"{engine.origin}/api/v1/jobs/get",
        json={"id": failed.job_id},
        headers={"Authorization": f"Bearer {token(engine)}"},
    ).json()
    reasons = [
        a["attempt"]["failureSummary"]["failures"][0]["externalMessage"] for a in info["attempts"]
    ]
    assert reasons[-1].startswith("Injected failure") and len(reasons) == 3


def test_connections_page_by_20_with_next_links(
    engine_factory: Any, make_connection: Any, duckdb_warehouse: Any
) -> None:
    conns = [make_connection(duckdb_warehouse, name=f"c{i:02d}") for i in range(45)]
    engine = engine_factory(conns)
    api = sdk(engine)
    listed = api.connections.list_connections(request=ops.ListConnectionsRequest())
    first = listed.connections_response
    assert len(first.data) == 20 and first.previous is None
    assert first.next.startswith(f"{engine.url}/connections?")
    assert first.next.endswith("limit=20&offset=20")
    names = []
    url: str | None = f"{engine.url}/connections"
    headers = {"Authorization": f"Bearer {token(engine)}"}
    while url:
        page = httpx.get(url, headers=headers).json()
        names += [c["name"] for c in page["data"]]
        url = page.get("next")
    assert names == [f"c{i:02d}" for i in range(45)]


def test_auth_and_unknown_ids(
    engine_factory: Any, make_connection: Any, duckdb_warehouse: Any
) -> None:
    mine = make_connection(duckdb_warehouse, workspace_id="11111111-1111-1111-1111-111111111111")
    other = make_connection(duckdb_warehouse, workspace_id="22222222-2222-2222-2222-222222222222")
    engine = engine_factory([mine, other])
    url = engine.url
    assert httpx.get(f"{url}/connections").status_code == 401
    bad = httpx.get(f"{url}/connections", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["title"]) == (401, "invalid-api-key")
    wrong = httpx.post(
        f"{url}/applications/token",
        data={
            "client_id": engine.client_id,
            "client_secret": "wrong",
            "grant_type": "client_credentials",
        },
    )
    assert wrong.status_code == 401

    client_id, secret = engine.add_application(mine.workspace_id)
    scoped = httpx.post(
        f"{url}/applications/token", json={"client_id": client_id, "client_secret": secret}
    ).json()
    assert scoped["token_type"] == "Bearer" and scoped["expires_in"] == 180
    headers = {"Authorization": f"Bearer {scoped['access_token']}"}
    assert httpx.get(f"{url}/connections/{mine.connection_id}", headers=headers).status_code == 200
    denied = httpx.get(f"{url}/connections/{other.connection_id}", headers=headers)
    assert (denied.status_code, denied.json()["title"]) == (403, "forbidden")
    listed = httpx.get(f"{url}/connections", headers=headers).json()["data"]
    assert [c["connectionId"] for c in listed] == [mine.connection_id]

    headers = {"Authorization": f"Bearer {token(engine)}"}
    assert httpx.get(f"{url}/connections/{'0' * 8}", headers=headers).status_code == 404
    assert httpx.get(f"{url}/jobs/424242", headers=headers).status_code == 404


def test_the_internal_api_path_is_404_with_the_base_path_to_use(engine: LocalEngine) -> None:
    res = httpx.post(f"{engine.origin}/api/v1/jobs", json={})
    assert res.status_code == 404
    assert res.json()["detail"] == (
        "/api/v1/jobs is Airbyte's internal configuration API; the public API this client "
        f"needs is at {engine.origin}/api/public/v1 (self-managed) or {engine.origin}/v1: "
        "use that as the server URL."
    )
