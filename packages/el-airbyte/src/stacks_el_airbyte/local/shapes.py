"""The JSON bodies of Airbyte's public API (field names as its OpenAPI description has them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from stacks_el_airbyte.local.jobs import Job
from stacks_el_airbyte.local.model import ConnectionConfig

ERRORS = "https://reference.airbyte.com/reference/errors"
#: Airbyte's problem types (RFC 9457 bodies, airbyte-platform's api-problems.yaml)
PROBLEMS: dict[int, tuple[str, str]] = {
    400: (f"{ERRORS}#bad-request", "bad-request"),
    401: (f"{ERRORS}#invalid-api-key", "invalid-api-key"),
    403: (f"{ERRORS}#forbidden", "forbidden"),
    404: (f"{ERRORS}#resource-not-found", "resource-not-found"),
    409: (f"{ERRORS}#try-again-later", "try-again-later"),
    500: (ERRORS, "unexpected-problem"),
}
_NS = uuid.UUID("6f1c3f38-5d0e-4a55-9d8a-2b6d7f0c1e11")


def problem(status: int, detail: str) -> dict[str, Any]:
    kind, title = PROBLEMS.get(status, PROBLEMS[500])
    return {"status": status, "type": kind, "title": title, "detail": detail}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_duration(seconds: float) -> str:
    """``PT8H6M12S`` as Java's ``Duration.toString()`` writes it (Airbyte's ``duration``)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    out = "PT"
    if hours:
        out += f"{hours}H"
    if minutes:
        out += f"{minutes}M"
    if secs or ms or out == "PT":
        out += f"{secs}.{ms:03d}".rstrip("0").rstrip(".") + "S"
    return out


def job_json(job: Job) -> dict[str, Any]:
    end = job.ended_at or datetime.now(UTC)
    return {
        "jobId": job.job_id,
        "status": job.status,
        "jobType": job.job_type,
        "startTime": iso(job.created_at),
        "connectionId": job.connection_id,
        "lastUpdatedAt": iso(job.updated_at),
        "duration": iso_duration((end - job.created_at).total_seconds()),
        "bytesSynced": job.outcome.bytes_synced,
        "rowsSynced": job.outcome.records_synced,
    }


def job_info_json(job: Job) -> dict[str, Any]:
    """The subset of the configuration API's ``JobInfoRead`` (``POST /api/v1/jobs/get``) that
    carries each attempt's failure reason, which the public API does not expose."""
    attempts = []
    for a in job.attempts:
        failures = []
        if a.failure:
            failures.append(
                {
                    "failureOrigin": "source",
                    "failureType": "system_error",
                    "externalMessage": a.failure,
                    "internalMessage": a.failure,
                    "timestamp": int((a.ended_at or a.created_at).timestamp() * 1000),
                }
            )
        read = {
            "id": a.number - 1,
            "status": a.status,
            "createdAt": int(a.created_at.timestamp()),
            "updatedAt": int((a.ended_at or a.created_at).timestamp()),
        }
        if failures:
            read["failureSummary"] = {"failures": failures, "partialSuccess": False}
        attempts.append({"attempt": read, "logs": {"logLines": []}})
    return {
        "job": {
            "id": job.job_id,
            "configType": job.job_type,
            "configId": job.connection_id,
            "status": job.status,
            "createdAt": int(job.created_at.timestamp()),
            "updatedAt": int(job.updated_at.timestamp()),
        },
        "attempts": attempts,
    }


def connection_json(c: ConnectionConfig) -> dict[str, Any]:
    streams = []
    for s in c.streams:
        stream: dict[str, Any] = {"name": s.name, "syncMode": s.sync_mode}
        if s.cursor_field:
            stream["cursorField"] = [s.cursor_field]
        if s.primary_key:
            stream["primaryKey"] = [[k] for k in s.primary_key]
        streams.append(stream)
    schedule: dict[str, Any] = {"scheduleType": "manual"}
    if c.schedule_cron:
        schedule = {"scheduleType": "cron", "cronExpression": c.schedule_cron}
    return {
        "connectionId": c.connection_id,
        "name": c.name,
        "sourceId": str(uuid.uuid5(_NS, f"source:{c.connection_id}")),
        "destinationId": str(uuid.uuid5(_NS, f"destination:{c.connection_id}")),
        "workspaceId": c.workspace_id,
        "status": "active",
        "schedule": schedule,
        "nonBreakingSchemaUpdatesBehavior": "ignore",
        "namespaceDefinition": "custom_format",
        "namespaceFormat": c.schema,
        "prefix": c.prefix,
        "configurations": {"streams": streams},
        "createdAt": 0,
        "tags": [],
    }


def page(
    items: list[dict[str, Any]], url: str, query: dict[str, str], limit: int, offset: int
) -> dict[str, Any]:
    """A list response with Airbyte's ``next`` / ``previous`` links (absolute URLs)."""
    from urllib.parse import urlencode

    def link(at: int) -> str:
        return f"{url}?{urlencode({**query, 'limit': limit, 'offset': at})}"

    out: dict[str, Any] = {"data": items[offset : offset + limit]}
    if offset + limit < len(items):
        out["next"] = link(offset + limit)
    if offset > 0:
        out["previous"] = link(max(0, offset - limit))
    return out
