"""One real Postgres for every test in the repository.

Backend, in order: ``STACKS_TEST_POSTGRES_URL`` if set; else a testcontainers Postgres when a Docker
engine answers a cheap ping; else a throwaway cluster from the local PostgreSQL binaries (run as
the ``postgres`` user when we are root, since initdb refuses root). Each test then gets a database
of its own (:meth:`PostgresServer.create_database`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from stacks_contract.warehouse import PostgresWarehouse, parse_warehouse

ENV_URL = "STACKS_TEST_POSTGRES_URL"


@dataclass
class PostgresServer:
    """A running server we may create and drop databases on."""

    admin: PostgresWarehouse
    backend: str  # "env" | "docker" | "local"
    _created: list[str] = field(default_factory=list)

    def _admin_conn(self):
        import psycopg

        return psycopg.connect(self.admin.url(), autocommit=True, connect_timeout=10)

    def create_database(self, prefix: str = "t") -> PostgresWarehouse:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
        with self._admin_conn() as conn:
            conn.execute(f'create database "{name}"')
        self._created.append(name)
        return self.admin.model_copy(update={"database": name})

    def drop_database(self, name: str) -> None:
        with self._admin_conn() as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def docker_available(timeout: float = 2.0) -> bool:
    """A cheap probe: a socket or DOCKER_HOST exists and the engine answers a ping."""
    if not (os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock")):
        return False
    try:
        import docker

        return bool(docker.from_env(timeout=timeout).ping())
    except Exception:
        return False


def choose_backend(
    env: Mapping[str, str] | None = None, docker_probe: Callable[[], bool] = docker_available
) -> str:
    env = os.environ if env is None else env
    if env.get(ENV_URL):
        return "env"
    if docker_probe():
        return "docker"
    return "local"


def find_pg_bin() -> Path:
    """The directory holding initdb/pg_ctl: $PG_BIN, PATH, or the newest
    /usr/lib/postgresql/*/bin."""
    for candidate in (os.environ.get("PG_BIN"),):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    which = shutil.which("initdb")
    if which:
        return Path(which).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    raise RuntimeError(
        "No PostgreSQL server binaries found (initdb): install the 'postgresql' package, "
        f"set PG_BIN, or point {ENV_URL} at a running server."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def local_cluster() -> Iterator[PostgresServer]:
    """initdb + pg_ctl start a throwaway cluster on a free port; stopped and removed after."""
    pg_bin = find_pg_bin()
    root = Path(tempfile.mkdtemp(prefix="stacks-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    run = lambda cmd: subprocess.run(  # noqa: E731
        _as_postgres_user(cmd), check=True, capture_output=True, text=True
    )
    try:
        run(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        opts = (
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        run(
            [
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"Could not start a local Postgres: {exc.stderr or exc.stdout}") from exc
    try:
        yield PostgresServer(
            admin=PostgresWarehouse(
                host="127.0.0.1",
                port=port,
                database="postgres",
                user="postgres",
                password=SecretStr("postgres"),
            ),
            backend="local",
        )
    finally:
        subprocess.run(
            _as_postgres_user([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def docker_server() -> Iterator[PostgresServer]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15-alpine", driver=None) as pg:
        yield PostgresServer(admin=parse_warehouse(pg.get_connection_url()), backend="docker")  # type: ignore[arg-type]


@contextlib.contextmanager
def postgres_server(backend: str | None = None) -> Iterator[PostgresServer]:
    backend = backend or choose_backend()
    if backend == "env":
        wh = parse_warehouse(os.environ[ENV_URL])
        if not isinstance(wh, PostgresWarehouse):
            raise RuntimeError(f"{ENV_URL} must be a postgresql:// URL")
        yield PostgresServer(admin=wh, backend="env")
    elif backend == "docker":
        with docker_server() as server:
            yield server
    else:
        with local_cluster() as server:
            yield server


def wait_port(host: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")
