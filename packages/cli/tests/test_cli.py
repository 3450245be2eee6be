"""The `stacks` CLI end to end through click's runner, with tiny tool-free stacks registered as
real entry points, on DuckDB and on the real Postgres."""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import types
import warnings
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr
from stacks_cli.main import main
from stacks_contract.errors import StacksError, StepFailed
from stacks_contract.models import (
    LoadResult,
    RunRecord,
    RunStatus,
    StackSpec,
    TableRef,
)
from stacks_contract.ports import ELStep, Orchestrator, Stack
from stacks_contract.warehouse import PostgresWarehouse
from stacks_core import registry
from stacks_core.ledger import Ledger
from stacks_core.sql import connect

SECRET = "s3cr3t-Pa55"
ITEMS = [(1, "apple"), (2, "pear"), (3, "plum")]


# --- a tiny, tool-free stack ---------------------------------------------------------------------


class UpsertStep(ELStep):
    """Idempotent: replaces the rows it owns, stamps the run id."""

    name = "items"

    def produces(self) -> tuple[TableRef, ...]:
        return (TableRef("raw", "items"), TableRef("raw", "items__tags"))

    def run(self, request, warehouse, report=None) -> LoadResult:
        started = datetime.now(UTC)
        if report:
            report(self.name, "loading 3 items")
        print("tool chatter on stdout")  # as dbt and dagster-dbt do
        warnings.warn("a superseded tool API", UserWarning, stacklevel=1)
        with connect(warehouse) as conn:
            conn.execute("create schema if not exists raw")
            conn.execute(
                "create table if not exists raw.items "
                "(id integer, name varchar, _stacks_run_id varchar)"
            )
            conn.execute(
                "create table if not exists raw.items__tags (item_id integer, tag varchar, "
                "_stacks_run_id varchar)"
            )
            conn.execute("delete from raw.items")
            conn.execute("delete from raw.items__tags")
            conn.executemany(
                "insert into raw.items values (?, ?, ?)", [(*r, request.run_id) for r in ITEMS]
            )
            conn.executemany(
                "insert into raw.items__tags values (?, ?, ?)",
                [(1, "[red]", request.run_id), (2, "green", request.run_id)],
            )
        return LoadResult(
            step=self.name,
            run_id=request.run_id,
            rows={"raw.items": 3, "raw.items__tags": 2},
            started_at=started,
            finished_at=datetime.now(UTC),
        )


class AppendStep(UpsertStep):
    """Not idempotent: appends the same rows on every run."""

    def run(self, request, warehouse, report=None) -> LoadResult:
        with connect(warehouse) as conn:
            conn.execute("create schema if not exists raw")
            conn.execute("create table if not exists raw.items (id integer, name varchar)")
            conn.executemany("insert into raw.items values (?, ?)", ITEMS)
        now = datetime.now(UTC)
        return LoadResult(
            step=self.name, run_id=request.run_id, rows={"raw.items": 3}, started_at=now,
            finished_at=now,
        )  # fmt: skip


class FailingStep(UpsertStep):
    def run(self, request, warehouse, report=None) -> LoadResult:
        raise StepFailed(self.name, 'relation "raw.source" does not exist')


class CrashingStep(UpsertStep):
    def run(self, request, warehouse, report=None) -> LoadResult:
        raise ZeroDivisionError("boom at row 7")


class InterruptedStep(UpsertStep):
    def run(self, request, warehouse, report=None) -> LoadResult:
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a step


class SerialOrchestrator(Orchestrator):
    """Runs steps one after another, records the ledger, never raises for a failed step."""

    name = "serial"

    def build(self, ref):
        raise NotImplementedError("the CLI never deploys")

    def run(self, stack, request, warehouse, report=None) -> RunRecord:
        ledger = Ledger(warehouse)
        record = RunRecord(
            run_id=request.run_id,
            stack=stack.name,
            orchestrator=self.name,
            trigger=request.trigger,
            status=RunStatus.RUNNING,
            started_at=datetime.now(UTC),
        )
        ledger.record(record)
        rows: dict[str, int] = {}
        try:
            for step in stack.el_steps:
                rows.update(step.run(request, warehouse, report).rows)
        except StacksError as exc:
            record = record.model_copy(
                update={"status": RunStatus.FAILED, "error": str(exc), "rows": rows}
            )
        else:
            record = record.model_copy(
                update={
                    "status": RunStatus.SUCCEEDED,
                    "rows": rows,
                    "models_built": 2,
                    "tests_passed": 5,
                    "tests_failed": 0,
                }
            )
        record = record.model_copy(update={"finished_at": datetime.now(UTC)})
        ledger.record(record)
        return record


class TinyStack(Stack):
    step_class: type[ELStep] = UpsertStep
    sessions: list[str]

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = "a tiny test stack"

    def orchestrator(self) -> Orchestrator:
        return SerialOrchestrator()

    def spec(self, warehouse) -> StackSpec:
        return StackSpec(name=self.name, el_steps=(self.step_class(),))

    @contextlib.contextmanager
    def session(self, warehouse):
        SESSIONS.append(self.name)
        yield

    def hints(self, warehouse) -> list[str]:
        return [f"Query it: select * from raw.items  -- [{self.name}]"]


SESSIONS: list[str] = []


def _factory(step: type[ELStep], name: str):
    def build() -> Stack:
        stack = TinyStack(name)
        stack.step_class = step
        return stack

    return build


class RemoteStep(UpsertStep):
    """As a step driving a remote engine (Airbyte) whose connection fixes the destination."""

    fixed_destination = True


STACKS = {
    "tiny": _factory(UpsertStep, "tiny"),
    "remote": _factory(RemoteStep, "remote"),
    "dupes": _factory(AppendStep, "dupes"),
    "broken": _factory(FailingStep, "broken"),
    "crashy": _factory(CrashingStep, "crashy"),
    "ctrlc": _factory(InterruptedStep, "ctrlc"),
}


@pytest.fixture(autouse=True)
def tiny_stacks(monkeypatch) -> None:
    """Register the stacks above as real entry points of a module that exists only in memory."""
    module = types.ModuleType("_stacks_cli_test_stacks")
    for name, factory in STACKS.items():
        setattr(module, name.replace("-", "_"), factory)
    module.not_a_stack = lambda: "just a string"
    monkeypatch.setitem(sys.modules, module.__name__, module)
    eps = {
        name: EntryPoint(name=name, value=f"{module.__name__}:{name}", group=registry.GROUP)
        for name in STACKS
    }
    eps["bogus"] = EntryPoint(name="bogus", value=f"{module.__name__}:not_a_stack", group="g")
    eps["missing"] = EntryPoint(name="missing", value="no_such_module_xyz:build", group="g")
    monkeypatch.setattr(registry, "available_stacks", lambda: dict(sorted(eps.items())))
    SESSIONS.clear()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _url(wh) -> str:
    if isinstance(wh, PostgresWarehouse):
        # trust auth accepts any password; a distinctive one proves it is never printed
        return wh.model_copy(update={"password": SecretStr(SECRET)}).url()
    return wh.redacted_url()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _errors(result: Result) -> list[str]:
    """stderr without the progress lines (``   0.1s NAME resolving the stack``) a run prints
    before it fails."""
    return [x for x in result.stderr.strip().splitlines() if not re.match(r"^ *[\d.]+s ", x)]


def _no_secret(result: Result) -> None:
    assert SECRET not in result.output
    assert SECRET not in result.stderr


# --- list ----------------------------------------------------------------------------------------


def test_list_names_every_installed_stack() -> None:
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("broken", "crashy", "ctrlc", "dupes", "tiny"):
        assert name in result.stdout


def test_list_with_nothing_installed(monkeypatch) -> None:
    monkeypatch.setattr(registry, "available_stacks", dict)
    result = invoke("list")
    assert result.exit_code == 0
    assert "No stacks are installed" in result.stdout


# --- run -----------------------------------------------------------------------------------------


def test_run_prints_progress_and_a_summary(warehouse, recwarn) -> None:
    result = invoke("run", "tiny", "--warehouse", _url(warehouse))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "raw.items " in out and "raw.items__tags" in out
    assert "succeeded" in out
    assert "models built  2" in out
    assert "5 passed, 0 failed" in out
    # the duration is what the user waited (imports, planning), the run's own time beside it
    waited, run_s = re.search(r"duration +([\d.]+)s \(the run itself: ([\d.]+)s\)", out).groups()
    assert float(waited) >= float(run_s)
    assert "total" in out and " 5 " in out.split("total")[1].splitlines()[0] + " "
    assert f"warehouse     {warehouse.redacted_url()}" in out
    assert "Query it: select * from raw.items  -- [tiny]" in out  # hints, brackets kept
    assert "items loading 3 items" in result.stderr  # the reporter's progress line
    # stdout is the summary alone (pipeable); tools' prints go to stderr, their warnings nowhere
    assert "tool chatter on stdout" in result.stderr
    assert "tool chatter" not in out
    assert not [w for w in recwarn if "superseded" in str(w.message)]
    _no_secret(result)
    # what a user would check next: the rows are there, and the run is in the ledger
    with connect(warehouse) as conn:
        assert conn.count("raw", "items") == 3
    (run,) = Ledger(warehouse).runs()
    assert run.status == RunStatus.SUCCEEDED and run.rows["raw.items"] == 3
    assert run.run_id in out


def test_run_defaults_to_duckdb_under_dot_stacks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STACKS_WAREHOUSE", raising=False)
    result = invoke("run", "tiny")
    assert result.exit_code == 0, result.output
    db = tmp_path / ".stacks" / "tiny.duckdb"
    assert db.exists()
    assert f"duckdb://{db}?schema=raw" in result.stdout


def test_run_passes_select_and_full_refresh(monkeypatch, duckdb_warehouse) -> None:
    seen = []
    original = SerialOrchestrator.run

    def spy(self, stack, request, warehouse, report=None):
        seen.append(request)
        return original(self, stack, request, warehouse, report)

    monkeypatch.setattr(SerialOrchestrator, "run", spy)
    result = invoke(
        "run", "tiny", "-w", _url(duckdb_warehouse), "-s", "items", "-s", "raw.items__tags",
        "--full-refresh",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (request,) = seen
    assert request.select == ("items", "raw.items__tags") and request.full_refresh
    assert request.stack == "tiny"


def test_an_unknown_selection_is_exit_2_before_anything_runs(monkeypatch, duckdb_warehouse):
    seen = []
    monkeypatch.setattr(SerialOrchestrator, "run", lambda *a, **k: seen.append(a))
    result = invoke("run", "tiny", "-w", _url(duckdb_warehouse), "-s", "orders+")
    assert result.exit_code == 2
    assert "Nothing named 'orders' to select. Known EL steps: items" in result.stderr
    assert seen == [], "the orchestrator was called for an invalid selection"


def test_failed_run_prints_the_error_and_exits_1(warehouse) -> None:
    result = invoke("run", "broken", "--warehouse", _url(warehouse))
    assert result.exit_code == 1
    assert "failed" in result.stdout  # the summary still shows
    err = result.stderr.strip().splitlines()
    assert err[-1].startswith("Error: run ")
    assert (
        "of broken failed: Step 'items' failed: relation \"raw.source\" does not exist" in err[-1]
    )
    assert "Traceback" not in result.output
    _no_secret(result)
    assert Ledger(warehouse).runs()[0].status == RunStatus.FAILED


def test_unexpected_exception_is_one_line_without_traceback(duckdb_warehouse) -> None:
    result = invoke("run", "crashy", "-w", _url(duckdb_warehouse))
    assert result.exit_code == 1
    assert "Error: unexpected ZeroDivisionError: boom at row 7" in result.stderr
    assert "STACKS_TRACEBACK=1" in result.stderr
    assert "Traceback" not in result.output


# --- check ---------------------------------------------------------------------------------------


def test_check_passes_for_an_idempotent_stack(warehouse) -> None:
    result = invoke("check", "tiny", "--warehouse", _url(warehouse))
    assert result.exit_code == 0, result.output
    assert "tiny is idempotent: 2 table(s), 5 rows, identical after 1 and 3 runs" in result.stdout
    # then re-delivered into a scratch warehouse (a scratch database on Postgres), removed after
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "proved     idempotent: identical after 1 and 3 runs" in lines
    assert (
        "proved     re-delivery: 2 raw table(s), 5 rows: an EL full refresh into a scratch "
        "warehouse gives the same data"
    ) in lines
    assert "not proved full rebuild: the stack has no transform" in lines
    assert SESSIONS == ["tiny"]  # one session around all three runs and the rebuild
    # the user's ledger holds the three runs only: the rebuild went to the scratch warehouse
    assert [r.status for r in Ledger(warehouse).runs()] == [RunStatus.SUCCEEDED] * 3
    with connect(warehouse) as conn:
        if isinstance(warehouse, PostgresWarehouse):
            scratch = conn.execute("select datname from pg_database where datname like '%check%'")
        else:
            scratch = [p for p in warehouse.path.parent.iterdir() if ".check" in p.name]
    assert scratch == []
    _no_secret(result)


def test_check_without_a_scratch_database_says_what_it_could_not_prove(
    postgres_warehouse,
) -> None:
    """A Postgres user who may not create databases: the idempotence proof stands, the rebuild
    proofs are 'not proved' with the database's reason, and the exit code stays 0."""
    with connect(postgres_warehouse) as conn:
        conn.execute("drop role if exists stacks_nocreatedb")
        conn.execute("create role stacks_nocreatedb login nocreatedb")
        conn.execute(f'grant all on database "{postgres_warehouse.database}" to stacks_nocreatedb')
    user = postgres_warehouse.model_copy(update={"user": "stacks_nocreatedb"})
    try:
        result = invoke("check", "tiny", "-w", _url(user), "--runs", "2")
    finally:
        with connect(postgres_warehouse) as conn:
            conn.execute("drop owned by stacks_nocreatedb")
            conn.execute("drop role stacks_nocreatedb")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "proved     idempotent: identical after 1 and 2 runs" in lines
    assert any(
        x.startswith("not proved re-delivery: no scratch warehouse to rebuild into (")
        and "permission denied to create database" in x
        for x in lines
    ), lines
    _no_secret(result)


def test_check_of_a_step_with_a_fixed_destination_does_not_rebuild(duckdb_warehouse) -> None:
    """An EL step whose engine writes where its own connection points (Airbyte) would refresh
    the real warehouse, not a scratch one: check proves idempotence and says why it stops."""
    result = invoke("check", "remote", "-w", _url(duckdb_warehouse), "--runs", "2")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "proved     idempotent: identical after 1 and 2 runs" in lines
    why = (
        "EL step 'items' writes where its engine's connection points, not into a scratch warehouse"
    )
    assert f"not proved re-delivery: {why}" in lines, lines
    assert f"not proved full rebuild: {why}" in lines, lines
    assert [r.status for r in Ledger(duckdb_warehouse).runs()] == [RunStatus.SUCCEEDED] * 2
    assert not [p for p in duckdb_warehouse.path.parent.iterdir() if ".check" in p.name]


def test_check_fails_with_a_per_table_diff(warehouse) -> None:
    result = invoke("check", "dupes", "--warehouse", _url(warehouse), "--runs", "3")
    assert result.exit_code == 1
    assert "dupes is not idempotent: after 3 runs 1 table(s) differ" in result.stdout
    assert "raw.items: 3 rows -> 9 rows" in result.stdout
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "FAILED     idempotent: after 3 runs 1 table(s) differ from after 1 run" in lines
    why = "not tried: the stack is not idempotent, so there is no stable state to rebuild"
    assert f"not proved re-delivery: {why}" in lines
    assert f"not proved full rebuild: {why}" in lines
    _no_secret(result)


def test_check_runs_option(duckdb_warehouse) -> None:
    result = invoke("check", "dupes", "-w", _url(duckdb_warehouse), "--runs", "2")
    assert result.exit_code == 1
    assert "raw.items: 3 rows -> 6 rows" in result.stdout
    result = invoke("check", "tiny", "-w", _url(duckdb_warehouse), "--runs", "1")
    assert result.exit_code == 2
    assert "--runs" in result.stderr


def test_check_stops_at_a_failed_run(duckdb_warehouse) -> None:
    result = invoke("check", "broken", "-w", _url(duckdb_warehouse))
    assert result.exit_code == 1
    assert "of broken failed: Step 'items' failed" in result.stderr
    assert len(Ledger(duckdb_warehouse).runs()) == 1


# --- errors: one sentence, exit 2, password masked ---------------------------------------------


@pytest.mark.parametrize("command", ["run", "check"])
def test_unknown_stack_names_the_installed_ones(command: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(command, "nope")
    assert result.exit_code == 2
    assert _errors(result) == [
        "Error: Unknown stack 'nope'. "
        "Installed stacks: bogus, broken, crashy, ctrlc, dupes, missing, remote, tiny."
    ]
    assert not (tmp_path / ".stacks").exists()  # no warehouse file for a stack that doesn't exist


def test_a_stack_that_fails_to_import_or_build(duckdb_warehouse) -> None:
    result = invoke("run", "missing", "-w", _url(duckdb_warehouse))
    assert result.exit_code == 2
    assert "Stack 'missing' is installed but could not be imported" in result.stderr
    assert "No module named 'no_such_module_xyz'" in result.stderr
    result = invoke("run", "bogus", "-w", _url(duckdb_warehouse))
    assert result.exit_code == 2
    assert "returned str, not a stacks_contract.ports.Stack" in result.stderr


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (f"postgresql://alice:{SECRET}@db:54x2/shop", "Port could not be cast"),
        (f"postgresql://alice:{SECRET}@db:5432", "names no database"),
        (f"mysql://alice:{SECRET}@db/shop", "scheme must be postgresql:// or duckdb://"),
    ],
)
def test_malformed_url_is_one_masked_sentence(url: str, fragment: str) -> None:
    result = invoke("run", "tiny", "--warehouse", url)
    assert result.exit_code == 2
    lines = _errors(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: Malformed warehouse URL") or "Unsupported" in lines[0]
    assert "alice:***@db" in lines[0]
    assert fragment in lines[0]
    _no_secret(result)
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["run", "check"])
def test_unreachable_postgres_is_one_masked_sentence(command: str) -> None:
    port = _closed_port()
    result = invoke(
        command, "tiny", "--warehouse", f"postgresql://alice:{SECRET}@127.0.0.1:{port}/shop"
    )
    assert result.exit_code == 2
    lines = _errors(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"Error: Cannot connect to the Postgres warehouse postgresql://alice:***@127.0.0.1:{port}/shop"
    )
    assert "Connection refused" in lines[0]
    assert SESSIONS == []  # nothing ran
    _no_secret(result)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (
            ["run", f"postgresql://alice:{SECRET}@db/shop"],
            "Unknown stack 'postgresql://alice:***@db",
        ),
        (["run", "tiny", f"postgresql://alice:{SECRET}@db/shop"], "unexpected extra argument"),
        (["run", "tiny", "-w", f"duckdb:///x.duckdb?password={SECRET}"], "password=***"),
        (["run", "tiny", "--bogus", f"postgresql://a:{SECRET}@db/s"], "No such option"),
    ],
)
def test_what_the_user_typed_is_echoed_with_its_password_masked(
    args: list[str], shown: str
) -> None:
    """Typing mistakes (click's own usage errors included) never print a URL's password."""
    result = invoke(*args)
    assert result.exit_code == 2
    assert shown in result.stderr
    assert "Error: " in result.stderr
    _no_secret(result)


def test_ctrl_c_is_one_line_and_exit_130(duckdb_warehouse) -> None:
    result = invoke("run", "ctrlc", "-w", _url(duckdb_warehouse))
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines()[-1] == "Interrupted; the next run will converge."
    assert "KeyboardInterrupt" not in result.output
    assert "Aborted" not in result.output


def test_warehouse_from_environment(monkeypatch, duckdb_warehouse) -> None:
    monkeypatch.setenv("STACKS_WAREHOUSE", _url(duckdb_warehouse))
    result = invoke("run", "tiny")
    assert result.exit_code == 0, result.output
    assert duckdb_warehouse.path.exists()


def test_help_lists_commands_and_exit_codes() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for word in ("list", "run", "check", "Exit codes"):
        assert word in result.stdout
    run_help = invoke("run", "--help").stdout
    assert "--warehouse" in run_help and "--select" in run_help and "--full-refresh" in run_help
