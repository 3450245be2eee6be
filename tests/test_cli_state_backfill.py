"""``stacks state show|reset``, ``stacks run --backfill`` and a source that cannot be reached, from
the command line, over a real Postgres source (el-dlt's drift fixture) into DuckDB (issue 28)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from stacks_cli.main import main
from stacks_core.sql import connect

FIXTURE = Path(__file__).parents[1] / "packages/el-dlt/tests/drift_fixture.sql"

STACKS = """
import os
from stacks_contract import Stack, StackSpec


class Drift(Stack):
    name = "drift"

    def __init__(self, url, name="drift", tables=("accounts", "notes")):
        self.url, self.name, self.tables = url, name, tables

    def orchestrator(self):
        from stacks_core.local import LocalOrchestrator

        return LocalOrchestrator(attempts=1)

    def spec(self, warehouse):
        from stacks_el_dlt import SqlDatabaseStep

        step = SqlDatabaseStep(self.url, list(self.tables) if self.tables else None)
        return StackSpec(name=self.name, el_steps=(step,))


stack = Drift(os.environ["DRIFT_SOURCE"])
broken = Drift(os.environ["DRIFT_BROKEN"], name="broken", tables=None)
"""


@pytest.fixture
def env(postgres_server, tmp_path, monkeypatch):
    source = postgres_server.create_database(prefix="clidrift")
    with connect(source) as conn:
        conn.execute(FIXTURE.read_text())
    (tmp_path / "stacks_file.py").write_text(STACKS)
    broken = source.url().replace(f"/{source.database}", "/no_such_database")
    broken = broken.replace("://postgres:postgres@", "://postgres:Wr0ng-pw@")
    monkeypatch.setenv("DRIFT_SOURCE", source.url())
    monkeypatch.setenv("DRIFT_BROKEN", broken)
    monkeypatch.setenv("STACKS_DLT_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("STACKS_WAREHOUSE", f"duckdb:///{tmp_path / 'wh.duckdb'}")
    yield source, f"{tmp_path / 'stacks_file.py'}"
    postgres_server.drop_database(source.database)


def stacks(*args: str) -> Result:
    return CliRunner().invoke(main, ["-q", *args], catch_exceptions=False)


def cursors(ref: str) -> dict[str, object]:
    shown = stacks("state", "show", ref, "--json")
    assert shown.exit_code == 0, shown.output
    return {f"{c['table']}.{c['cursor']}": c["value"] for c in json.loads(shown.stdout)["cursors"]}


def test_state_show_reset_and_backfill(env, tmp_path) -> None:
    source, file = env
    ref = f"{file}:stack"
    assert stacks("run", ref).exit_code == 0
    before = cursors(ref)
    assert set(before) == {"accounts.updated_at", "notes.xmin"}
    assert str(before["accounts.updated_at"]).startswith("2024-01-01")
    table = stacks("state", "show", ref, "app", "accounts")
    assert table.exit_code == 0 and "updated_at" in table.stdout and "xmin" not in table.stdout

    # a change that does not move the cursor: a normal run misses it, a backfill re-delivers it
    with connect(source) as conn:
        conn.execute("update accounts set name = 'changed' where id = 1")
    wh = {"url": str(tmp_path / "wh.duckdb")}
    assert stacks("run", ref).exit_code == 0

    def name_of_1() -> str:
        import duckdb

        with duckdb.connect(wh["url"], read_only=True) as db:
            return db.execute("select name from raw.accounts where id = 1").fetchall()[0][0]

    assert name_of_1() == "ann"
    filled = stacks(
        "run", ref, "--backfill", "app.accounts", "--since", "2023-12-31", "--until", "2024-01-02"
    )
    assert filled.exit_code == 0, filled.output
    assert name_of_1() == "changed"
    assert cursors(ref) == before  # the cursors did not move
    bad = stacks("run", ref, "--backfill", "app.nope", "--since", "2024-01-01")
    assert bad.exit_code == 2 and "has no table 'nope'" in bad.stderr
    # which tables have a time cursor only the source knows: a failed run, saying why
    xmin = stacks("run", ref, "--backfill", "app.notes", "--since", "2024-01-01")
    assert xmin.exit_code == 1 and "Cannot backfill 'notes' by time" in xmin.stderr

    reset = stacks("state", "reset", ref, "app", "accounts")
    assert reset.exit_code == 0, reset.output
    assert "Reset 1 cursor(s) (app.accounts)" in reset.stdout
    assert set(cursors(ref)) == {"notes.xmin"}
    again = stacks("run", ref, "--json")
    assert json.loads(again.stdout)["rows"] == {"raw.accounts": 3}  # read in full once


def test_a_source_that_cannot_be_reached_is_a_failed_run_in_the_ledger(env) -> None:
    _, file = env
    ref = f"{file}:broken"
    ran = stacks("run", ref)
    # main: exit 1 before any ledger row ("Running ..." and no run in `stacks runs`)
    assert ran.exit_code == 1
    runs = stacks("runs", "broken", "--json")
    assert runs.exit_code == 0, runs.output
    [record] = json.loads(runs.stdout)["runs"]
    assert record["status"] == "failed"
    assert "no_such_database" in record["error"] and "Wr0ng-pw" not in runs.stdout
