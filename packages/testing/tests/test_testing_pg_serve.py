"""Cheap test databases: every test database is a clone of one empty template, and one cluster
can serve a whole test run (``python -m stacks_testing.postgres serve``, which scripts/test
starts)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
from stacks_core.sql import connect
from stacks_testing.postgres import TEMPLATE, PostgresServer, local_cluster


def test_test_databases_are_clones_of_an_empty_closed_template() -> None:
    # a cluster of its own: template1 is changed below, which no other test must see
    with local_cluster() as server:
        with psycopg.connect(server.admin.model_copy(update={"database": "template1"}).url()) as c:
            c.execute("create table left_in_template1 (id integer)")  # e.g. a DBA's extension
        wh = server.create_database(prefix="clone")
        with connect(wh) as conn:
            assert conn.tables() == []  # cloned from template0's copy, not from template1
        with connect(server.admin) as conn:
            rows = conn.execute(
                "select datistemplate, datallowconn from pg_database where datname = ?",
                [TEMPLATE],
            )
        # a template must have no sessions while it is cloned: nobody may connect to it
        assert rows == [(True, False)]
        # a second server object (another pytest on the same server) reuses the template
        other = PostgresServer(admin=server.admin, backend="env")
        second = other.create_database(prefix="clone")
        other.drop_database(second.database)
        other.close()
        server.drop_database(wh.database)
        with connect(server.admin) as conn:
            names = {r[0] for r in conn.execute("select datname from pg_database")}
        assert wh.database not in names and second.database not in names


def test_serve_prints_a_url_and_stops_when_its_stdin_closes() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stacks_testing.postgres", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("postgresql://postgres:"), proc.stderr.read() if proc.stderr else ""
        with psycopg.connect(url, autocommit=True) as conn:
            (data_dir,) = conn.execute("select current_setting('data_directory')").fetchone()
            (ready,) = conn.execute(
                "select count(*) from pg_database where datname = %s", (TEMPLATE,)
            ).fetchone()
        assert ready == 1  # the template is made before the URL is handed out
        proc.stdin.close()  # what happens when scripts/test ends (or dies)
        assert proc.wait(60) == 0
        deadline = time.monotonic() + 10
        while Path(data_dir).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(data_dir).exists(), "the cluster's files were left behind"
        try:
            psycopg.connect(url, connect_timeout=2).close()
        except psycopg.OperationalError:
            pass
        else:
            raise AssertionError("the cluster still answers after serve stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
