"""One real Postgres for every test in the repository.

Backend, in order: ``STACKS_TEST_POSTGRES_URL`` if set; else a testcontainers Postgres when a Docker
engine answers a cheap ping; else a throwaway cluster from the local PostgreSQL binaries (run as
the ``postgres`` user when we are root, since initdb refuses root; its data directory on
``/dev/shm`` when that tmpfs has room: a throwaway cluster needs no disk, and a CREATE DATABASE
there costs no disk writes). Each test then gets a
database of its own (:meth:`PostgresServer.create_database`), cloned from one prepared, empty
template database.

``python -m stacks_testing.postgres serve`` starts one throwaway cluster for a whole test run
(``scripts/test`` does): it prints the admin URL on one line, then keeps the cluster running until
its stdin closes or it gets SIGTERM/SIGINT/SIGHUP; every pytest of the run then uses it through
``STACKS_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from stacks_contract.warehouse import PostgresWarehouse, parse_warehouse

ENV_URL = "STACKS_TEST_POSTGRES_URL"


TEMPLATE = "stacks_template"
# every test database is cloned from it: made once per server from template0 (nothing a server's
# template1 carries leaks in), closed to connections (a template being cloned must have none)


@dataclass
class PostgresServer:
    """A running server we may create and drop databases on (one admin connection, reused)."""

    admin: PostgresWarehouse
    backend: str  # "env" | "docker" | "local"
    _created: list[str] = field(default_factory=list)
    _conn: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _template_ready: bool = field(default=False, repr=False)
    #: a local cluster's data directory and binaries (None for "env" and "docker")
    data_dir: Path | None = None
    pg_bin: Path | None = None
    #: the postgres options a local cluster was started with (port, socket directory, ...)
    options: str = ""

    def _admin_conn(self):
        import psycopg

        return psycopg.connect(self.admin.url(), autocommit=True, connect_timeout=10)

    def _execute(self, sql: str) -> None:
        """Run one statement on the admin connection (reconnecting once if it was lost)."""
        import psycopg

        with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = self._admin_conn()
                try:
                    if not self._template_ready:
                        self._make_template()
                    if sql:
                        self._conn.execute(sql)
                    return
                except psycopg.OperationalError:
                    if attempt == 2 or not self._conn.closed:
                        raise

    def _make_template(self) -> None:
        from psycopg import errors

        found = self._conn.execute("select 1 from pg_database where datname = %s", (TEMPLATE,))
        if not found.fetchone():
            # another pytest on the same server may be making it at the same moment
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                self._conn.execute(
                    f'create database "{TEMPLATE}" template template0 '
                    "is_template true allow_connections false"
                )
        self._template_ready = True

    def prepare(self) -> None:
        """Make the template now (else the first :meth:`create_database` does)."""
        self._execute("")

    def create_database(self, prefix: str = "t") -> PostgresWarehouse:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
        self._execute(f'create database "{name}" template "{TEMPLATE}"')
        self._created.append(name)
        return self.admin.model_copy(update={"database": name})

    def drop_database(self, name: str) -> None:
        self._execute(f'drop database if exists "{name}" with (force)')

    def restart(self, mode: str = "fast", *, timeout: float = 60.0) -> None:
        """Restart the server as an operator would (``pg_ctl restart -m fast``: every session is
        ended with "terminating connection due to administrator command"); returns once it
        accepts connections again. Only for a cluster this process started
        (:func:`local_cluster`): never restart a server other tests share."""
        self._pg_ctl("restart", "-m", mode, timeout=timeout)

    def stop(self, mode: str = "fast", *, wait: bool = True, timeout: float = 60.0) -> None:
        """Stop the server (``pg_ctl stop``); :meth:`start` brings it back. Local cluster only.
        ``mode="smart", wait=False``: the server refuses new connections ("the database system
        is shutting down") until the sessions still open end."""
        self._pg_ctl("stop", "-m", mode, *([] if wait else ["-W"]), timeout=timeout)

    def start(self, *, timeout: float = 60.0) -> None:
        """Start a server :meth:`stop` stopped; returns once it accepts connections."""
        self._pg_ctl("start", "-o", self.options, timeout=timeout)

    def _pg_ctl(self, action: str, *args: str, timeout: float) -> None:
        if self.data_dir is None or self.pg_bin is None:
            raise RuntimeError(f"cannot {action} a {self.backend!r} Postgres, only a local cluster")
        cmd = [str(self.pg_bin / "pg_ctl"), "-D", str(self.data_dir), *args]
        cmd += [] if "-W" in args else ["-w"]
        cmd += ["-t", str(int(timeout)), "-l", str(self.data_dir.parent / "log"), action]
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
            subprocess.run(
                _as_postgres_user(cmd),
                check=True,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


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


def postgres_available() -> bool:
    """Whether :func:`postgres_server` can give a server here without installing anything:
    ``STACKS_TEST_POSTGRES_URL`` is set, a Docker engine answers, or the PostgreSQL server
    binaries are installed (for a throwaway cluster). A stack's own tests use it to add Postgres
    to DuckDB when it is at hand; this repository's tests always require it."""
    if choose_backend() != "local":
        return True
    try:
        find_pg_bin()
    except RuntimeError:
        return False
    return True


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


def _scratch_dir(min_free: int = 2 << 30) -> str | None:
    """``/dev/shm`` if it is writable with ``min_free`` bytes free (not the 64 MB of a default
    container), else None (the system temp dir)."""
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    ok = os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize >= min_free
    return shm if ok else None


@contextlib.contextmanager
def local_cluster() -> Iterator[PostgresServer]:
    """initdb + pg_ctl start a throwaway cluster on a free port; stopped and removed after."""
    pg_bin = find_pg_bin()
    root = Path(tempfile.mkdtemp(prefix="stacks-pg-", dir=_scratch_dir()))
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
    server = PostgresServer(
        admin=PostgresWarehouse(
            host="127.0.0.1",
            port=port,
            database="postgres",
            user="postgres",
            password=SecretStr("postgres"),
        ),
        backend="local",
        data_dir=data,
        pg_bin=pg_bin,
        options=opts,
    )
    try:
        yield server
    finally:
        server.close()
        subprocess.run(
            _as_postgres_user([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def docker_server() -> Iterator[PostgresServer]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15-alpine", driver=None) as pg:
        server = PostgresServer(admin=parse_warehouse(pg.get_connection_url()), backend="docker")  # type: ignore[arg-type]
        try:
            yield server
        finally:
            server.close()


@contextlib.contextmanager
def postgres_server(backend: str | None = None) -> Iterator[PostgresServer]:
    backend = backend or choose_backend()
    if backend == "env":
        wh = parse_warehouse(os.environ[ENV_URL])
        if not isinstance(wh, PostgresWarehouse):
            raise RuntimeError(f"{ENV_URL} must be a postgresql:// URL")
        server = PostgresServer(admin=wh, backend="env")
        try:
            yield server
        finally:
            server.close()
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


def serve() -> int:
    """One throwaway cluster for a whole test run: print its admin URL (one line), prepare the
    template, run until stdin closes or a SIGTERM/SIGINT/SIGHUP, then stop and remove it."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    with local_cluster() as server:
        server.prepare()
        server.close()
        print(server.admin.url(), flush=True)
        sys.stdin.read()  # until EOF: the caller closed the pipe (or exited)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: python -m stacks_testing.postgres serve")
    sys.exit(serve())
