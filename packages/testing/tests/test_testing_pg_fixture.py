"""The shared Postgres fixture: backend choice, the local-binaries path as root, isolation."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Iterator

import pytest
from stacks_contract.warehouse import DuckDBWarehouse
from stacks_core.sql import connect
from stacks_testing.postgres import (
    ENV_URL,
    PostgresServer,
    choose_backend,
    docker_available,
    find_pg_bin,
    local_cluster,
    postgres_available,
    postgres_server,
)


def _never_called() -> bool:
    raise AssertionError("the Docker probe must not run when an env URL is set")


def test_env_url_wins_without_probing_docker() -> None:
    assert choose_backend({ENV_URL: "postgresql://u@h/db"}, docker_probe=_never_called) == "env"


def test_docker_when_the_engine_answers() -> None:
    assert choose_backend({}, docker_probe=lambda: True) == "docker"


def test_local_binaries_when_no_docker() -> None:
    assert choose_backend({}, docker_probe=lambda: False) == "local"
    assert choose_backend({ENV_URL: ""}, docker_probe=lambda: False) == "local"


def test_docker_probe_is_false_without_socket_or_docker_host(monkeypatch) -> None:
    # no engine: the probe must say so (and not raise) rather than let testcontainers fail
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    real_exists = os.path.exists
    monkeypatch.setattr(
        os.path, "exists", lambda p: False if p == "/var/run/docker.sock" else real_exists(p)
    )
    assert docker_available() is False


def test_postgres_is_available_from_a_url_or_the_server_binaries(monkeypatch, tmp_path) -> None:
    """What a stack's own tests ask before adding Postgres to DuckDB (`stacks init`'s)."""
    monkeypatch.setenv(ENV_URL, "postgresql://u@h/db")
    assert postgres_available() is True
    monkeypatch.delenv(ENV_URL)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # an engine that does not answer
    monkeypatch.setenv("PG_BIN", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no initdb on PATH either
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    assert postgres_available() is False
    (tmp_path / "initdb").touch()  # the server binaries in PG_BIN: a throwaway cluster
    assert postgres_available() is True


def test_docker_probe_false_when_docker_host_points_nowhere(monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    assert docker_available(timeout=0.5) is False


def test_session_server_uses_the_expected_backend(postgres_server: PostgresServer) -> None:
    # without an env URL or a Docker engine (this project's machine) that is "local"
    assert postgres_server.backend == choose_backend()


@pytest.fixture
def local_server(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """The session server if it is the local-binaries one (here), else one started that way."""
    if postgres_server.backend == "local":
        yield postgres_server
    else:
        with local_cluster() as server:
            yield server


def test_local_cluster_runs_as_the_postgres_user(local_server: PostgresServer) -> None:
    assert local_server.backend == "local"
    with connect(local_server.admin) as conn:
        (version,) = conn.execute("select version()")[0]
        (data_dir,) = conn.execute("select current_setting('data_directory')")[0]
    assert version.startswith("PostgreSQL ")
    # initdb refuses root, so as root the cluster must belong to the postgres user
    owner = pwd.getpwuid(os.stat(data_dir).st_uid).pw_name
    assert owner == ("postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
    assert (find_pg_bin() / "initdb").exists()


def test_env_backend_uses_the_given_server(postgres_server: PostgresServer, monkeypatch) -> None:
    monkeypatch.setenv(ENV_URL, postgres_server.admin.url())
    with postgres_server_ctx() as server:
        assert server.backend == "env"
        assert server.admin == postgres_server.admin
        wh = server.create_database(prefix="envtest")
        with connect(wh) as conn:
            assert conn.execute("select current_database()")[0][0] == wh.database
        server.drop_database(wh.database)


def test_env_backend_rejects_a_non_postgres_url(monkeypatch) -> None:
    monkeypatch.setenv(ENV_URL, "duckdb:///tmp/x.duckdb")
    with pytest.raises(RuntimeError, match="must be a postgresql:// URL"), postgres_server_ctx():
        pass


def postgres_server_ctx():
    return postgres_server()


ISOLATION_TESTS = """
from stacks_core.sql import connect

SEEN = []

def _write(wh):
    with connect(wh) as conn:
        assert conn.tables() == []  # a brand-new database, whatever ran before
        conn.execute("create schema raw")
        conn.execute("create table raw.leak (id integer)")
        conn.execute("insert into raw.leak values (1)")
    SEEN.append(wh.database)

def test_first(postgres_warehouse):
    _write(postgres_warehouse)

def test_second(postgres_warehouse, postgres_server):
    _write(postgres_warehouse)
    assert len(set(SEEN)) == 2
    with connect(postgres_server.admin) as conn:
        names = {r[0] for r in conn.execute("select datname from pg_database")}
    assert SEEN[0] not in names, "the first test's database was not dropped"
    assert SEEN[1] in names

def test_duckdb_first(duckdb_warehouse):
    with connect(duckdb_warehouse) as conn:
        assert conn.tables() == []
        conn.execute("create table leak (id integer)")

def test_duckdb_second(duckdb_warehouse):
    with connect(duckdb_warehouse) as conn:
        assert conn.tables() == []
"""


def test_each_test_gets_its_own_database(postgres_server: PostgresServer, tmp_path) -> None:
    # A real inner pytest session through the plugin, pointed at this session's server via the
    # env backend, so the fixtures' own setup and teardown are what is under test.
    (tmp_path / "test_inner_isolation.py").write_text(ISOLATION_TESTS)
    env = {**os.environ, ENV_URL: postgres_server.admin.url()}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "stacks_testing.plugin",
            "test_inner_isolation.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout


def test_duckdb_fixture_is_a_fresh_file(duckdb_warehouse: DuckDBWarehouse, tmp_path) -> None:
    assert not duckdb_warehouse.path.exists()
    assert duckdb_warehouse.path.parent == tmp_path
    with connect(duckdb_warehouse) as conn:
        assert conn.tables() == []


def test_warehouse_fixture_covers_both_engines(request, warehouse) -> None:
    kind = request.node.callspec.params["warehouse"]
    assert warehouse.kind == kind
