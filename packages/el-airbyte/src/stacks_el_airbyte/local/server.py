"""``LocalEngine``: the subset of Airbyte's public API on localhost, syncs run by an executor.

Served under both base paths, ``/api/public/v1`` (self-managed Airbyte) and ``/v1`` (Airbyte
Cloud's style, the Airflow provider's default token URL ``v1/applications/token``)::

    with LocalEngine([connection]) as engine:
        os.environ.update(engine.env())     # AIRBYTE_SERVER_URL, AIRBYTE_CLIENT_ID, ...
        ...                                 # AirbyteStep / AirbyteHook talk to engine.url

Endpoints: ``POST /applications/token``, ``GET /health``, ``GET|POST /connections``,
``GET|PATCH|DELETE /connections/{id}``, ``POST /jobs``, ``GET /jobs[/{id}]``,
``DELETE /jobs/{id}``, ``GET /workspaces[/{id}]``, ``GET|POST /sources``,
``GET|DELETE /sources/{id}``, the same for ``/destinations``, ``GET /streams?sourceId=``; plus the
configuration API's ``POST /api/v1/jobs/get`` (attempts and their failure reasons). See
:mod:`.api`, :mod:`.jobs`, :mod:`.definitions`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stacks_el_airbyte.local.api import Api, Auth, Request
from stacks_el_airbyte.local.definitions import Definitions
from stacks_el_airbyte.local.jobs import Fault, JobBoard
from stacks_el_airbyte.local.model import ConnectionConfig, Executor

__all__ = ["LocalEngine"]


class LocalEngine:
    """A local Airbyte: connections in memory, jobs in threads, the public API over HTTP."""

    def __init__(
        self,
        connections: Iterable[ConnectionConfig],
        executor: Executor | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_attempts: int = 3,
        retry_wait_s: float = 0.2,
        token_ttl_s: int = 180,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.connections = {c.connection_id: c for c in connections}
        self._executor = executor
        self.host, self.port = host, port
        self.jobs = JobBoard(
            self.connections,
            self._get_executor,
            max_attempts=max_attempts,
            retry_wait_s=retry_wait_s,
        )
        self.auth = Auth(token_ttl_s=token_ttl_s)
        #: an application with access to every workspace (``credentials``: its id and secret)
        if credentials is not None:
            self.auth.applications[credentials[0]] = (credentials[1], None)
            self.client_id, self.client_secret = credentials
        else:
            self.client_id, self.client_secret = self.auth.add()
        from stacks_el_airbyte.manifests import MANIFESTS_DIR

        def discover(manifest: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
            return self._get_executor().discover(manifest, config)  # type: ignore[attr-defined]

        has_discover = executor is None or hasattr(executor, "discover")
        self.definitions = Definitions(
            self.connections, discover if has_discover else None, MANIFESTS_DIR
        )
        self.api = Api(self.connections, self.jobs, self.auth, self.definitions)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalEngine:
        if self._server is not None:
            return self
        self._get_executor()  # the default executor's import fails here, not in a job
        api = self.api

        class Handler(_Handler):
            pass

        Handler.api = api
        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name="airbyte-local-api",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Cancel the jobs still running, then stop serving."""
        self.jobs.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what clients need ----------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The public API's base URL (self-managed style)."""
        return f"{self.origin}/api/public/v1"

    def env(self) -> dict[str, str]:
        """The environment :class:`~stacks_el_airbyte.step.AirbyteStep` reads."""
        return {
            "AIRBYTE_SERVER_URL": self.url,
            "AIRBYTE_CLIENT_ID": self.client_id,
            "AIRBYTE_CLIENT_SECRET": self.client_secret,
        }

    def add_connection(self, connection: ConnectionConfig) -> None:
        """Serve one more connection (e.g. the same source into another warehouse)."""
        self.connections[connection.connection_id] = connection

    def add_application(self, workspace_id: str | None = None) -> tuple[str, str]:
        """New client credentials, limited to ``workspace_id`` (None: every workspace)."""
        return self.auth.add(workspace_id)

    def inject(
        self,
        connection_id: str,
        *,
        fail_attempts: int = 0,
        fail_job: bool = False,
        cancel: bool = False,
        delay_s: float = 0.0,
        message: str | None = None,
    ) -> None:
        """Make the next job of ``connection_id`` fail some attempts, fail, get cancelled by the
        server, or run slowly (each attempt waits ``delay_s`` first, cancellable)."""
        fault = Fault(fail_attempts, fail_job, cancel, delay_s)
        if message:
            fault.message = message
        self.jobs.inject(connection_id, fault)

    def _get_executor(self) -> Executor:
        if self._executor is None:
            from stacks_el_airbyte.local.executor import CdkExecutor

            self._executor = CdkExecutor()
        return self._executor


class _Handler(BaseHTTPRequestHandler):
    api: Api
    protocol_version = "HTTP/1.1"
    server_version = "stacks-airbyte-local/0.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and stacks sessions print what matters themselves

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k: ",".join(v) for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = _body(raw, self.headers.get("Content-Type", ""))
        except ValueError:
            self._reply(
                400,
                {
                    "status": 400,
                    "title": "bad-request",
                    "type": "about:blank",
                    "detail": "The body is not valid JSON.",
                },
            )
            return
        origin = f"http://{self.headers.get('Host') or self.server.server_address}"
        request = Request(
            self.command, parts.path, query, body, self.headers.get("Authorization"), origin
        )
        try:
            status, payload = self.api.handle(request)
        except Exception as exc:  # a bug of the engine: Airbyte's 500 problem, never a hang
            from stacks_el_airbyte.local.shapes import problem

            status, payload = 500, problem(500, f"{type(exc).__name__}: {exc}")
        self._reply(status, payload)

    def _reply(self, status: int, payload: Any) -> None:
        data = b"" if status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        kind = "application/problem+json" if status >= 400 else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve


def _body(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "application/x-www-form-urlencoded" in content_type:
        return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data
