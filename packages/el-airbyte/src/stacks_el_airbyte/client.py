"""Talking to Airbyte's public API through the ``airbyte-api`` SDK: credentials from the
environment, paging, and every failure as one sentence with the secrets masked."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from stacks_contract.errors import ConfigError, StacksError, StepFailed, TransientError

PUBLIC = "/api/public/v1"
INTERNAL = "/api/v1"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
EXAMPLE_URL = "http://localhost:8000/api/public/v1"


@dataclass(frozen=True)
class Credentials:
    """Where Airbyte is and how to sign in: client credentials (exchanged for short-lived tokens
    at ``token_url``) or a ready bearer token; neither for an Airbyte without auth."""

    server_url: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if env is None else env
        url = (env.get("AIRBYTE_SERVER_URL") or "").strip().rstrip("/")
        if not url:
            raise ConfigError(
                "Set AIRBYTE_SERVER_URL to Airbyte's public API URL "
                f"(e.g. {EXAMPLE_URL}, or https://api.airbyte.com/v1 for Airbyte Cloud)."
            )
        if urlsplit(url).path.rstrip("/").endswith(INTERNAL):
            raise ConfigError(base_path_sentence(url))
        client_id = env.get("AIRBYTE_CLIENT_ID") or None
        secret = env.get("AIRBYTE_CLIENT_SECRET") or None
        if bool(client_id) != bool(secret):
            raise ConfigError(
                "Set both AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET (or AIRBYTE_TOKEN)."
            )
        return cls(
            server_url=url,
            client_id=client_id,
            client_secret=secret,
            token=env.get("AIRBYTE_TOKEN") or None,
            # the SDK joins a relative token URL onto the server URL's host, dropping its path
            # (``/applications/token`` -> http://host/applications/token): always absolute
            token_url=env.get("AIRBYTE_TOKEN_URL") or f"{url}/applications/token",
        )

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.client_secret, self.token) if s)

    def mask(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    def sdk(self, timeout_s: float = 30.0) -> Any:
        import httpx
        from airbyte_api import AirbyteAPI, models

        security = None
        if self.client_id and self.client_secret:
            security = models.Security(
                client_credentials=models.SchemeClientCredentials(
                    client_id=self.client_id,
                    client_secret=self.client_secret,
                    token_url=self.token_url or f"{self.server_url}/applications/token",
                )
            )
        elif self.token:
            security = models.Security(bearer_auth=self.token)
        client = httpx.Client(timeout=timeout_s, follow_redirects=True)
        return AirbyteAPI(server_url=self.server_url, security=security, client=client)


def base_path_sentence(url: str) -> str:
    parts = urlsplit(url)
    root = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if path.endswith(INTERNAL):
        return (
            f"AIRBYTE_SERVER_URL {url} is Airbyte's internal configuration API ({INTERNAL}); "
            f"use the public API: {root}{path[: -len(INTERNAL)]}{PUBLIC} on a self-managed "
            "server, https://api.airbyte.com/v1 on Airbyte Cloud."
        )
    return (
        f"No Airbyte public API at AIRBYTE_SERVER_URL {url}: on a self-managed server it is "
        f"{root}{path}{PUBLIC}, on Airbyte Cloud https://api.airbyte.com/v1."
    )


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    # the SDK's token hook raises a bare Exception("Unexpected status code 401 from token ...")
    text = str(exc)
    marker = "Unexpected status code "
    if marker in text:
        digits = text.split(marker, 1)[1].split(" ", 1)[0]
        return int(digits) if digits.isdigit() else None
    return None


def problem_detail(exc: BaseException) -> str:
    import json

    body = getattr(exc, "body", "") or ""
    try:
        data = json.loads(body)
    except ValueError:
        return " ".join(str(body).split())[:300]
    if isinstance(data, dict):
        return str(data.get("detail") or data.get("message") or data.get("title") or "")
    return ""


def translate(
    exc: BaseException, creds: Credentials, step: str, *, connection_id: str | None = None
) -> StacksError:
    """An SDK or HTTP failure as the sentence the user sees (secrets masked); the HTTP status,
    if any, stays on the error as ``http_status``."""
    if isinstance(exc, StacksError):
        return exc
    err = _translate(exc, creds, step, connection_id)
    err.http_status = status_of(exc)  # type: ignore[attr-defined]
    return err


def _translate(
    exc: BaseException, creds: Credentials, step: str, connection_id: str | None
) -> StacksError:
    import httpx

    url = creds.server_url
    if isinstance(exc, httpx.ConnectError) and "refused" in str(exc).lower():
        return TransientError(
            step,
            f"cannot reach Airbyte at {url} (connection refused): is the server running? "
            "AIRBYTE_SERVER_URL must point at its public API.",
        )
    if isinstance(exc, httpx.TransportError):
        return TransientError(
            step, creds.mask(f"the connection to Airbyte at {url} failed: {_one_line(exc)}")
        )
    status = status_of(exc)
    detail = creds.mask(problem_detail(exc))
    token = "token endpoint" in str(exc)
    if status == 401:
        how = (
            "check AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET"
            if creds.client_id
            else "check AIRBYTE_TOKEN (expired?) or set AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET"
        )
        where = creds.token_url if token and creds.client_id else url
        return StepFailed(step, f"Airbyte at {where} rejected the credentials (401): {how}.")
    if status == 403:
        what = f"connection {connection_id}" if connection_id else "this request"
        return StepFailed(
            step,
            f"Airbyte at {url} denied access to {what} (403 forbidden): the credentials' "
            "workspace must own the connection (check AIRBYTE_CLIENT_ID's application).",
        )
    if status == 404 and token:
        return StepFailed(step, base_path_sentence(url))
    if status is not None and status >= 500:
        return TransientError(step, f"Airbyte at {url} answered {status}: {detail or 'no detail'}")
    if status is not None:
        return StepFailed(step, f"Airbyte at {url} answered {status}: {detail or 'no detail'}")
    return StepFailed(step, creds.mask(f"the Airbyte API call failed: {_one_line(exc)}"))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def iter_connections(api: Any, *, page_size: int = 20) -> Iterator[Any]:
    """Every connection the credentials see, page after page (the API returns 20 by default)."""
    from airbyte_api import api as ops

    offset = 0
    while True:
        res = api.connections.list_connections(
            request=ops.ListConnectionsRequest(limit=page_size, offset=offset)
        )
        body = res.connections_response
        data = list(body.data or []) if body is not None else []
        yield from data
        if body is None or not body.next or not data:
            return
        offset += len(data)


def active_jobs(api: Any, connection_id: str) -> list[Any]:
    """The connection's jobs not yet terminal, newest first."""
    from airbyte_api import api as ops

    res = api.jobs.list_jobs(
        request=ops.ListJobsRequest(connection_id=connection_id, order_by="createdAt|DESC")
    )
    data = res.jobs_response.data if res.jobs_response is not None else []
    return [j for j in data or [] if str(_value(j.status)) not in TERMINAL]


def failure_reason(creds: Credentials, job_id: int) -> str | None:
    """The last failed attempt's reason, from a self-managed server's configuration API
    (``POST /api/v1/jobs/get``): the public API's job has no failure field. Best effort."""
    import httpx

    url = creds.server_url
    if not url.endswith(PUBLIC):
        return None
    root = url[: -len(PUBLIC)]
    try:
        with httpx.Client(timeout=10.0) as http:
            headers = {}
            if creds.client_id and creds.client_secret:
                token = http.post(
                    creds.token_url or f"{url}/applications/token",
                    json={
                        "client_id": creds.client_id,
                        "client_secret": creds.client_secret,
                        "grant_type": "client_credentials",
                    },
                ).json()["access_token"]
                headers["Authorization"] = f"Bearer {token}"
            elif creds.token:
                headers["Authorization"] = f"Bearer {creds.token}"
            info = http.post(f"{root}{INTERNAL}/jobs/get", json={"id": job_id}, headers=headers)
            info.raise_for_status()
            reasons = [
                f.get("externalMessage") or f.get("internalMessage")
                for a in info.json().get("attempts", [])
                for f in (a.get("attempt", {}).get("failureSummary") or {}).get("failures", [])
            ]
    except Exception:
        return None
    reasons = [r for r in reasons if r]
    return creds.mask(reasons[-1]) if reasons else None


def _value(enum_or_str: Any) -> Any:
    return getattr(enum_or_str, "value", enum_or_str)
