"""Airflow as it is deployed: ``airflow api-server``, ``airflow scheduler`` (LocalExecutor) and
``airflow dag-processor`` as separate processes on 127.0.0.1, a Postgres metadata DB, and the REST
API (``/api/v2``) to drive and observe them, as a user or a CI job would."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DONE = ("success", "failed")


@contextlib.contextmanager
def stopped_on_sigterm() -> Iterator[None]:
    """A pytest stopped by SIGTERM still runs its fixtures' teardown, so the services (in
    sessions of their own, which outlive it) are stopped."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metadata_url(meta: Any) -> str:
    """SQLAlchemy's URL of a ``PostgresWarehouse`` as Airflow's metadata DB."""
    password = meta.password.get_secret_value()
    return f"postgresql+psycopg2://{meta.user}:{password}@{meta.host}:{meta.port}/{meta.database}"


def service_env(home: Path, metadata_url: str, port: int, extra: dict[str, str]) -> dict[str, str]:
    """What every Airflow process of the deployment shares (one environment, as in a
    ``docker-compose.yaml``): the metadata DB, the executor and its parallelism, the execution
    API's address and JWT secret, and a quiet, offline configuration."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # Airflow's default async driver for Postgres is asyncpg; psycopg 3 does both
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace("+psycopg2", "+psycopg"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
        # the DAG files are written before the services start: parse them once, not every 30 s
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "SCARF_ANALYTICS": "false",
        **extra,
    }


class Deployment:
    """The three services, started together and stopped (each process group) together."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home, self.env, self.port = home, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http = httpx.Client(base_url=f"{self.url}/api/v2", timeout=60)

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self) -> None:
        migrated = self.airflow("db", "migrate")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        commands = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port)],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
        }
        logs = self.home / "service-logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, args in commands.items():
            with open(logs / f"{name}.log", "wb") as out:
                self.procs[name] = subprocess.Popen(
                    [AIRFLOW, *args],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self.wait(lambda: self._healthy(), 300, "the api-server to answer")

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited: {self.log(name)[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            return self.http.get("/monitor/health").status_code == 200
        return False

    def log(self, name: str) -> str:
        return (self.home / "service-logs" / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        self.http.close()
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    # --- the REST API ---------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    def wait(self, ready: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = ready()
            if got:
                return got
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def wait_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Until the dag-processor has parsed ``dag_id`` into the metadata DB; a DAG file that
        did not import (``/importErrors`` names it) fails at once, with its trace."""

        def parsed() -> bool:
            if self.http.get(f"/dags/{dag_id}").status_code == 200:
                return True
            errors = self.http.get("/importErrors").json().get("import_errors", [])
            mine = [e["stack_trace"] for e in errors if dag_id in e.get("filename", "")]
            assert not mine, f"the DAG file of {dag_id} did not import:\n{mine[0]}"
            return False

        self.wait(parsed, timeout, f"DAG {dag_id} to be parsed")

    def unpause(self, dag_id: str, paused: bool = False) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"])

    def wait_runs(self, dag_id: str, count: int, timeout: float = 1800) -> list[dict[str, Any]]:
        """Until ``dag_id`` has ``count`` finished runs (and none still going); returns them."""

        def finished() -> list[dict[str, Any]] | None:
            runs = self.runs(dag_id)
            done = [r for r in runs if r["state"] in DONE]
            return done if len(done) >= count and len(done) == len(runs) else None

        return list(self.wait(finished, timeout, f"{count} finished run(s) of {dag_id}"))

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 1800) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            got = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            if got.status_code == 404:  # not created yet (a sensor fires it, say)
                return None
            assert got.status_code == 200, f"run {run_id}: {got.status_code} {got.text}"
            run = got.json()
            return run if run["state"] in DONE else None

        return dict(self.wait(done, timeout, f"run {run_id} of {dag_id} to finish"))

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        got = self.api(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        )
        return {ti["task_id"]: ti for ti in got["task_instances"]}

    def task_logs(self) -> Iterator[tuple[Path, str]]:
        for path in sorted((self.home / "logs").rglob("*.log")):
            yield path, path.read_text(errors="replace")
