"""Routing of the public API subset: one request in, ``(status, body)`` out. No sockets here."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stacks_el_airbyte.local import shapes
from stacks_el_airbyte.local.definitions import Definitions
from stacks_el_airbyte.local.jobs import Job, JobBoard, SyncRunning
from stacks_el_airbyte.local.model import ConnectionConfig

#: the public API's base paths: self-managed servers, and Airbyte Cloud's style
BASE_PATHS = ("/api/public/v1", "/v1")
INTERNAL = "/api/v1"
JOB_TYPES = ("sync", "reset", "refresh", "clear")
STATUSES = ("pending", "running", "incomplete", "failed", "succeeded", "cancelled")

Reply = tuple[int, Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    authorization: str | None
    #: ``http://host:port`` as the client addressed the server
    origin: str


@dataclass
class Auth:
    """Applications (client id -> secret, workspace or None for all) and the tokens issued."""

    token_ttl_s: int = 180
    applications: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    _tokens: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, workspace_id: str | None = None) -> tuple[str, str]:
        client_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
        self.applications[client_id] = (secret, workspace_id)
        return client_id, secret

    def issue(self, client_id: str, secret: str) -> str | None:
        known = self.applications.get(client_id)
        if known is None or not secrets.compare_digest(known[0], secret):
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (time.monotonic() + self.token_ttl_s, known[1])
        return token

    def check(self, authorization: str | None) -> tuple[bool, str | None]:
        """(valid, the token's workspace or None for every workspace)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return False, None
        with self._lock:
            entry = self._tokens.get(authorization[7:].strip())
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]


class Api:
    def __init__(
        self,
        connections: dict[str, ConnectionConfig],
        jobs: JobBoard,
        auth: Auth,
        definitions: Definitions,
    ):
        self.connections = connections
        self.jobs = jobs
        self.auth = auth
        self.defs = definitions

    def handle(self, req: Request) -> Reply:
        path = req.path.rstrip("/") or "/"
        if path == f"{INTERNAL}/jobs/get" and req.method == "POST":
            return self._authorized(req, lambda ws: self._job_info(req, ws))
        if path == INTERNAL or path.startswith(f"{INTERNAL}/"):
            return 404, shapes.problem(
                404,
                f"{path} is Airbyte's internal configuration API; the public API this client "
                f"needs is at {req.origin}/api/public/v1 (self-managed) or {req.origin}/v1: "
                "use that as the server URL.",
            )
        base = next((b for b in BASE_PATHS if path == b or path.startswith(f"{b}/")), None)
        if base is None:
            return 404, shapes.problem(
                404,
                f"No Airbyte API at {path}: the public API is at {req.origin}/api/public/v1 "
                f"(or {req.origin}/v1).",
            )
        rest = path[len(base) :] or "/"
        if rest == "/health" and req.method == "GET":
            return 200, {"available": True}
        if rest == "/applications/token" and req.method == "POST":
            return self._token(req)
        return self._authorized(req, lambda ws: self._route(req, base, rest, ws))

    # --- helpers --------------------------------------------------------------------------------

    def _authorized(self, req: Request, then: Callable[[str | None], Reply]) -> Reply:
        valid, workspace = self.auth.check(req.authorization)
        if not valid:
            return 401, shapes.problem(401, "The API key in the Authorization header is invalid.")
        return then(workspace)

    def _token(self, req: Request) -> Reply:
        body = req.body
        if body.get("grant_type", "client_credentials") != "client_credentials":
            return 400, shapes.problem(400, "grant_type must be client_credentials.")
        token = self.auth.issue(str(body.get("client_id", "")), str(body.get("client_secret", "")))
        if token is None:
            return 401, shapes.problem(401, "The client_id or client_secret is invalid.")
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.auth.token_ttl_s,
        }

    def _connection(self, connection_id: str, workspace: str | None) -> Reply | ConnectionConfig:
        conn = self.connections.get(connection_id)
        if conn is None:
            return 404, shapes.problem(404, f"Could not find a connection with id {connection_id}.")
        if workspace is not None and conn.workspace_id != workspace:
            return 403, shapes.problem(
                403, f"The token has no access to the workspace of connection {connection_id}."
            )
        return conn

    def _route(self, req: Request, base: str, rest: str, workspace: str | None) -> Reply:
        parts = [p for p in rest.split("/") if p]
        method = req.method
        if parts == ["connections"] and method == "GET":
            return self._list_connections(req, base, workspace)
        if parts == ["connections"] and method == "POST":
            return self.defs.create_connection(req.body)
        if len(parts) == 2 and parts[0] == "connections" and method in ("GET", "PATCH", "DELETE"):
            found = self._connection(parts[1], workspace)
            if isinstance(found, tuple):
                return found
            if method == "PATCH":
                return self.defs.patch_connection(found, req.body)
            if method == "DELETE":
                del self.connections[found.connection_id]
                return 204, None
            return 200, self.defs.connection_json(found)
        defined = self._definitions(req, base, parts, workspace)
        if defined is not None:
            return defined
        if parts == ["jobs"] and method == "POST":
            return self._create_job(req, workspace)
        if parts == ["jobs"] and method == "GET":
            return self._list_jobs(req, base, workspace)
        if len(parts) == 2 and parts[0] == "jobs" and method in ("GET", "DELETE"):
            job = self._job(parts[1], workspace)
            if isinstance(job, tuple):
                return job
            if method == "DELETE":
                self.jobs.cancel(job.job_id)
            return 200, shapes.job_json(job)
        return 404, shapes.problem(404, f"No such endpoint: {method} {base}{rest}.")

    def _definitions(
        self, req: Request, base: str, parts: list[str], workspace: str | None
    ) -> Reply | None:
        """Workspaces, sources, destinations and streams (:mod:`.definitions`)."""
        method, defs = req.method, self.defs
        if parts == ["workspaces"] and method == "GET":
            ids = [w for w in defs.workspaces() if workspace in (None, w)]
            items = [
                {"workspaceId": w, "name": f"workspace {w}", "dataResidency": "auto"} for w in ids
            ]
            return 200, {"data": items}
        if len(parts) == 2 and parts[0] == "workspaces" and method == "GET":
            if parts[1] not in defs.workspaces():
                return 404, shapes.problem(404, f"Could not find a workspace with id {parts[1]}.")
            return 200, {
                "workspaceId": parts[1],
                "name": f"workspace {parts[1]}",
                "dataResidency": "auto",
            }
        if parts == ["streams"] and method == "GET":
            return defs.streams(req.query.get("sourceId", ""))
        kinds: dict[str, dict[str, Any]] = {
            "sources": defs.sources,
            "destinations": defs.destinations,
        }
        if not parts or parts[0] not in kinds:
            return None
        found: dict[str, Any] = kinds[parts[0]]
        if len(parts) == 1 and method == "POST":
            create = defs.create_source if parts[0] == "sources" else defs.create_destination
            return create(req.body)
        if len(parts) == 1 and method == "GET":
            items = [d.json() for d in found.values() if workspace in (None, d.workspace_id)]
            return 200, {"data": items}
        if len(parts) == 2 and method in ("GET", "DELETE"):
            item = found.get(parts[1])
            if item is None or workspace not in (None, item.workspace_id):
                return 404, shapes.problem(404, f"Could not find {parts[0][:-1]} {parts[1]}.")
            if method == "DELETE":
                del found[parts[1]]
                return 204, None
            return 200, item.json()
        return None

    def _job(self, raw_id: str, workspace: str | None) -> Reply | Job:
        job = self.jobs.get(int(raw_id)) if raw_id.isdigit() else None
        if job is None:
            return 404, shapes.problem(404, f"Could not find a job with id {raw_id}.")
        found = self._connection(job.connection_id, workspace)
        return found if isinstance(found, tuple) else job

    def _create_job(self, req: Request, workspace: str | None) -> Reply:
        connection_id = req.body.get("connectionId")
        job_type = req.body.get("jobType")
        if not isinstance(connection_id, str) or job_type not in JOB_TYPES:
            return 400, shapes.problem(
                400, f"The body needs connectionId and jobType (one of {', '.join(JOB_TYPES)})."
            )
        found = self._connection(connection_id, workspace)
        if isinstance(found, tuple):
            return found
        try:
            job = self.jobs.create(connection_id, job_type)
        except SyncRunning:
            return 409, shapes.problem(409, f"A sync is already running for: {connection_id}")
        return 200, shapes.job_json(job)

    def _paging(self, req: Request) -> tuple[int, int] | None:
        try:
            limit = int(req.query.get("limit", 20))
            offset = int(req.query.get("offset", 0))
        except ValueError:
            return None
        return (limit, offset) if 1 <= limit <= 100 and offset >= 0 else None

    def _list_connections(self, req: Request, base: str, workspace: str | None) -> Reply:
        paging = self._paging(req)
        if paging is None:
            return 400, shapes.problem(400, "limit must be within 1..100 and offset >= 0.")
        limit, offset = paging
        wanted = {w for w in req.query.get("workspaceIds", "").split(",") if w}
        items = [
            self.defs.connection_json(c)
            for c in list(self.connections.values())
            if (workspace is None or c.workspace_id == workspace)
            and (not wanted or c.workspace_id in wanted)
        ]
        query = {k: v for k, v in req.query.items() if k not in ("limit", "offset")}
        url = f"{req.origin}{base}/connections"
        return 200, shapes.page(items, url, query, limit, offset)

    def _list_jobs(self, req: Request, base: str, workspace: str | None) -> Reply:
        paging = self._paging(req)
        if paging is None:
            return 400, shapes.problem(400, "limit must be within 1..100 and offset >= 0.")
        limit, offset = paging
        q = req.query
        if q.get("status") and q["status"] not in STATUSES:
            return 400, shapes.problem(400, f"status must be one of {', '.join(STATUSES)}.")
        order_field, _, direction = q.get("orderBy", "createdAt|DESC").partition("|")
        if order_field not in ("createdAt", "updatedAt") or direction not in ("ASC", "DESC"):
            return 400, shapes.problem(400, "orderBy must be createdAt|updatedAt, then |ASC|DESC.")
        jobs = [
            j
            for j in self.jobs.all()
            if (not q.get("connectionId") or j.connection_id == q["connectionId"])
            and (not q.get("status") or j.status == q["status"])
            and (not q.get("jobType") or j.job_type == q["jobType"])
            and not isinstance(self._connection(j.connection_id, workspace), tuple)
        ]
        key = "created_at" if order_field == "createdAt" else "updated_at"
        jobs.sort(key=lambda j: (getattr(j, key), j.job_id), reverse=direction == "DESC")
        query = {k: v for k, v in q.items() if k not in ("limit", "offset")}
        url = f"{req.origin}{base}/jobs"
        return 200, shapes.page([shapes.job_json(j) for j in jobs], url, query, limit, offset)

    def _job_info(self, req: Request, workspace: str | None) -> Reply:
        job = self._job(str(req.body.get("id", "")), workspace)
        return job if isinstance(job, tuple) else (200, shapes.job_info_json(job))
