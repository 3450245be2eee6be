"""`stacks plan`, `runs`, `init`, `ui`, `--json`, `--vars`, -q/-v and completion, run as a user
runs them: the `stacks` command in a subprocess, with the test kit's reference stack installed
as a real distribution (a dist-info folder with an entry point on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from stacks_contract.warehouse import PostgresWarehouse
from stacks_testing.entrypoints import install_stacks

STACKS = Path(sys.executable).parent / "stacks"
SECRET = "s3cr3t-Pa55"

STACK_MODULE = """
import os
from pathlib import Path
from stacks_core.local import LocalOrchestrator
from stacks_contract.models import StackSpec, TableRef, TransformResult, utcnow
from stacks_contract.ports import Stack, Transform
from stacks_core.sql import connect
from stacks_testing.reference import ReferenceELStep, ReferenceSource, reference_stack


class RefStack(Stack):
    name = "ref"
    description = "the reference stack"

    def orchestrator(self):
        return LocalOrchestrator()

    def spec(self, warehouse):
        return reference_stack(os.environ["REF_SOURCES"], name="ref")


def build():
    return RefStack()


class SlowStack(RefStack):
    name = "slow"

    def spec(self, warehouse):
        import time

        spec = reference_stack(os.environ["REF_SOURCES"], name="slow")
        step = spec.el_steps[0]
        run = step.run

        def slow_run(request, warehouse, report=None):
            time.sleep(float(os.environ.get("SLOW_SECONDS", "300")))  # stopped before it ends
            return run(request, warehouse)

        object.__setattr__(step, "run", slow_run)
        return spec


def slow():
    return SlowStack()


class StubbornStack(RefStack):
    # a tool that swallows Ctrl-C while it winds down (as thread pools and schedulers do)
    name = "stubborn"

    def spec(self, warehouse):
        import time

        spec = reference_stack(os.environ["REF_SOURCES"], name="stubborn")
        step = spec.el_steps[0]

        def stubborn_run(request, warehouse, report=None):
            try:
                time.sleep(300)
            except KeyboardInterrupt:
                for _ in range(120):
                    try:
                        time.sleep(0.5)
                    except KeyboardInterrupt:
                        pass
                raise

        object.__setattr__(step, "run", stubborn_run)
        return spec


def stubborn():
    return StubbornStack()


class AppendOnlyNames(Transform):
    # incremental on new ids only: a renamed customer never reaches analytics.names (the drift
    # between incremental runs and a full rebuild that `stacks check` must find)

    name = "names"

    def consumes(self):
        return (TableRef("raw", "customers"),)

    def produces(self):
        return (TableRef("analytics", "names"),)

    def run(self, request, warehouse, report=None):
        started = utcnow()
        with connect(warehouse) as conn:
            conn.execute("create schema if not exists analytics")
            if request.full_refresh:
                conn.execute("drop table if exists analytics.names")
            conn.execute("create table if not exists analytics.names (id bigint, name varchar)")
            conn.execute(
                "insert into analytics.names select id, name from raw.customers "
                "where id not in (select id from analytics.names)"
            )
        return TransformResult(run_id=request.run_id, started_at=started, finished_at=utcnow())


    def incremental(self):
        return self.produces()


class MergedNames(AppendOnlyNames):
    # incremental done right: a new or renamed customer is (re)inserted, nothing else is touched

    def run(self, request, warehouse, report=None):
        started = utcnow()
        with connect(warehouse) as conn:
            conn.execute("create schema if not exists analytics")
            if request.full_refresh:
                conn.execute("drop table if exists analytics.names")
            conn.execute("create table if not exists analytics.names (id bigint, name varchar)")
            conn.execute(
                "delete from analytics.names where id in (select c.id from raw.customers c "
                "join analytics.names n on n.id = c.id where n.name <> c.name)"
            )
            conn.execute(
                "insert into analytics.names select id, name from raw.customers "
                "where id not in (select id from analytics.names)"
            )
        return TransformResult(run_id=request.run_id, started_at=started, finished_at=utcnow())


class DriftyStack(RefStack):
    name = "drifty"

    def spec(self, warehouse):
        ref = reference_stack(os.environ["REF_SOURCES"], name="drifty")
        return StackSpec(name="drifty", el_steps=ref.el_steps, transform=AppendOnlyNames())


def drifty():
    return DriftyStack()


class MovingStack(RefStack):
    # a source that moves on: each step renames a customer and adds one
    name = "moving"
    advances_source = True
    transform = MergedNames

    def spec(self, warehouse):
        ref = reference_stack(os.environ["REF_SOURCES"], name=self.name)
        return StackSpec(name=self.name, el_steps=ref.el_steps, transform=self.transform())

    def advance_source(self, warehouse, steps=1):
        source = ReferenceSource(Path(os.environ["REF_SOURCES"]) / "customers.jsonl")
        for _ in range(steps):
            n = len(source.rows())
            source.update({"id": 3}, "name", f"customer 3 as of {n}")
            source.append({"id": n + 1, "name": f"customer {n + 1}", "country": "DE"})


class DriftyMovingStack(MovingStack):
    name = "drifty-moving"
    transform = AppendOnlyNames


def moving():
    return MovingStack()


def drifty_moving():
    return DriftyMovingStack()


class StatefulStep(ReferenceELStep):
    # keeps a working folder per warehouse, as dlt does
    def state_paths(self, warehouse):
        return (Path(os.environ["REF_STATE"]) / warehouse.redacted_url().replace("/", "_"),)

    def run(self, request, warehouse, report=None):
        folder = self.state_paths(warehouse)[0]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "state.json").write_text("{}" * 100)
        return super().run(request, warehouse)


class StatefulStack(RefStack):
    name = "stateful"

    def spec(self, warehouse):
        ref = reference_stack(os.environ["REF_SOURCES"], name="stateful")
        step = StatefulStep("customers", ref.el_steps[0].source, "customers")
        return StackSpec(name="stateful", el_steps=(step,))


def stateful():
    return StatefulStack()


class SharingStack(StatefulStack):
    # the same step and state folder as `stateful` (as two dlt stacks share dlt's folder)
    name = "sharing"

    def spec(self, warehouse):
        return super().spec(warehouse).model_copy(update={"name": "sharing"})


class HomedOrchestrator(LocalOrchestrator):
    # keeps a home for every warehouse at once (as the Temporal dev server's history)
    def state_paths(self, stack, warehouse):
        return (Path(".stacks/home").absolute(),)


class HomedStack(RefStack):
    name = "homed"

    def orchestrator(self):
        return HomedOrchestrator()


def sharing():
    return SharingStack()


def homed():
    return HomedStack()
"""


@pytest.fixture
def user(tmp_path: Path):
    """Runs `stacks ARGS` in a fresh working directory with the `ref` stack installed."""
    site = install_stacks(
        tmp_path / "site",
        dist="ref-stack",
        module="_ref_stack",
        source=STACK_MODULE,
        stacks={
            "ref": "build",
            "slow": "slow",
            "stubborn": "stubborn",
            "drifty": "drifty",
            "stateful": "stateful",
            "sharing": "sharing",
            "homed": "homed",
            "moving": "moving",
            "drifty-moving": "drifty_moving",
        },
        summary="the reference stack",
    )
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STACKS_WAREHOUSE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["REF_SOURCES"] = str(tmp_path / "sources")
    env["REF_STATE"] = str(tmp_path / "state")

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(STACKS), *args],
            cwd=cwd,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    run.cwd = cwd  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]  # for a `stacks` process a test starts itself
    run.sources = tmp_path / "sources"  # type: ignore[attr-defined]
    run.state = tmp_path / "state"  # type: ignore[attr-defined]
    return run


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


# --- plan ----------------------------------------------------------------------------------------


def test_plan_prints_steps_tables_models_and_a_lineage_tree(user) -> None:
    out = ok(user("plan", "ref")).stdout
    assert "Plan for ref (orchestrator: local; everything)" in out
    assert "customers -> raw.customers" in out and "orders -> raw.orders" in out
    assert "Models (2):" in out and "top_customers -> analytics.top_customers" in out
    tree = out.split("Lineage:")[1]
    assert "  customers\n  └── raw.customers\n      └── customer_orders\n" in tree
    assert "          └── top_customers\n" in tree
    assert "customer_orders (see above)" in tree  # reached again through raw.orders
    assert not (user.cwd / ".stacks").exists(), "plan must not touch the warehouse"


def test_plan_selection_json_and_mermaid(user) -> None:
    doc = json.loads(ok(user("plan", "ref", "-s", "orders+", "--json")).stdout)
    assert doc["everything"] is False and doc["select"] == ["orders+"]
    assert [s["name"] for s in doc["steps"]] == ["orders"]
    assert doc["steps"][0]["tables"] == ["raw.orders"]
    assert [m["name"] for m in doc["models"]] == ["customer_orders", "top_customers"]
    assert ["orders", "raw.orders"] in doc["edges"]
    assert ["raw.orders", "customer_orders"] in doc["edges"]

    models_only = ok(user("plan", "ref", "-s", "+top_customers", "-x", "customers", "-x", "orders"))
    assert "EL steps (0):" in models_only.stdout and "Models (2):" in models_only.stdout

    mermaid = ok(user("plan", "ref", "--mermaid")).stdout.splitlines()
    assert mermaid[0] == "graph LR"
    assert '  s0["customers"]:::step' in mermaid
    assert '  t0[("raw.customers")]:::table' in mermaid
    assert '  m0(["customer_orders"]):::model' in mermaid
    assert "  s0 --> t0" in mermaid and "  t0 --> m0" in mermaid


def test_plan_unknown_selector_is_exit_2(user) -> None:
    proc = user("plan", "ref", "--select", "nope+")
    assert proc.returncode == 2
    assert "Nothing named 'nope' to select. Known EL steps: customers, orders" in proc.stderr
    assert proc.stdout == ""


# --- run --json, runs, check --json ---------------------------------------------------------------


def test_a_closed_stdout_never_kills_a_run(user) -> None:
    """`stacks run ref 2>&1 | true`: the reader is gone before the first line; the run still
    runs to the end, exits 0 and is in the ledger as succeeded."""
    piped = subprocess.run(
        ["bash", "-c", f"{STACKS} run ref 2>&1 | true; exit ${{PIPESTATUS[0]}}"],
        cwd=user.cwd,
        env=user.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stdout + piped.stderr
    listed = json.loads(ok(user("runs", "ref", "--json")).stdout)
    assert [r["status"] for r in listed["runs"]] == ["succeeded"]


def test_runs_without_a_ledger_is_one_line_and_exit_0(user) -> None:
    proc = ok(user("runs"))
    assert proc.stdout.strip() == (
        "No runs recorded yet: no stacks_meta._stacks_runs ledger in ./.stacks/."
    )
    proc = ok(user("runs", "ref"))
    assert proc.stdout.startswith("No runs recorded yet: no stacks_meta._stacks_runs ledger in ")
    assert "(run `uv run stacks run ref` first)." in proc.stdout
    assert json.loads(ok(user("runs", "ref", "--json")).stdout) == {"runs": []}
    assert not (user.cwd / ".stacks").exists(), "reading the ledger must not create a warehouse"


def test_run_json_then_runs_shows_the_ledger(user) -> None:
    first = ok(user("run", "ref", "--json"))
    record = json.loads(first.stdout)  # stdout is one JSON document, nothing else
    assert record["status"] == "succeeded" and record["stack"] == "ref"
    assert record["rows"] == {"raw.customers": 8, "raw.orders": 24}
    assert record["models"] == ["customer_orders", "top_customers"]
    assert "Running ref" in first.stderr and "customers running" in first.stderr

    (user.sources / "orders.jsonl").unlink()  # the next run of the orders step fails
    failed = user("run", "ref", "--json", "--select", "orders")
    assert failed.returncode == 1
    bad = json.loads(failed.stdout)
    assert bad["status"] == "failed" and bad["error"].startswith("Step 'orders' failed")
    assert f"run {bad['run_id']} of ref failed" in failed.stderr

    text = ok(user("runs")).stdout
    assert text.index(bad["run_id"]) < text.index(record["run_id"]), "newest first"
    line = next(x for x in text.splitlines() if bad["run_id"] in x)
    assert "ref" in line and "local" in line and "failed" in line and "Step 'orders'" in line
    line = next(x for x in text.splitlines() if record["run_id"] in x)
    assert "succeeded" in line and " 32 " in line

    newest = json.loads(ok(user("runs", "ref", "--limit", "1", "--json")).stdout)["runs"]
    assert [r["run_id"] for r in newest] == [bad["run_id"]]


def test_check_json(user) -> None:
    doc = json.loads(ok(user("check", "ref", "--runs", "2", "--json")).stdout)
    assert doc["stack"] == "ref" and doc["idempotent"] is True and doc["diff"] == []
    assert [r["status"] for r in doc["runs"]] == ["succeeded", "succeeded"]
    assert doc["tables"] >= 4 and doc["rows"] > 0
    assert doc["proved"] == ["idempotent", "redelivery"]
    assert [p["diff"] for p in doc["proofs"]] == [[], [], []]
    rebuild = doc["proofs"][2]
    assert rebuild["proved"] is None  # its models are rebuilt on every run: nothing to prove
    assert rebuild["summary"].startswith("no model is maintained incrementally")
    assert [p.name for p in user.cwd.joinpath(".stacks").iterdir() if "check" in p.name] == []


def test_check_proves_a_rebuild_only_once_new_data_took_the_incremental_path(user) -> None:
    """On a fresh warehouse an incremental model is only ever built from scratch, so a rebuild
    equals it whatever its incremental logic does: `check` says "not proved" (exit 0) and how to
    move the source; `--advance N` moves it between runs and then proves it (or, for a model that
    drops updates, fails it, exit 1, naming the rows)."""
    plain = ok(user("check", "moving", "--runs", "2"))
    lines = [line.strip() for line in plain.stdout.splitlines()]
    assert (
        "not proved full rebuild: no new data reached an incremental model (names) between the "
        "runs, so the rebuild equals what a first build gives whatever the incremental path "
        "does; run `uv run stacks check moving --advance 3` to move the source between runs"
    ) in lines, lines

    doc = json.loads(ok(user("check", "moving", "--runs", "2", "--advance", "2", "--json")).stdout)
    assert doc["proved"] == ["idempotent", "redelivery", "full_rebuild"], doc["proofs"]
    assert doc["proofs"][2]["summary"] == (
        "1 model table(s), 10 rows: incremental == a rebuild from scratch, after new source data "
        "took the incremental path (names in 2 run(s))"
    )
    assert len(doc["runs"]) == 4

    wrong = user("check", "drifty-moving", "--runs", "2", "--advance", "1")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    lines = [line.strip() for line in wrong.stdout.splitlines()]
    assert (
        "FAILED     full rebuild: incremental != a rebuild from scratch: 1 model table(s) differ"
    ) in lines
    # (the source moved twice above: 10 customers, the third renamed "as of 9")
    assert "- only in the warehouse: id=3, name='customer 3 as of 9'" in lines
    assert "+ only in the rebuild: id=3, name='customer 3 as of 10'" in lines

    refused = user("check", "ref", "--advance", "1")
    assert refused.returncode == 2
    assert "--advance needs a stack whose source can move; ref runs on a live source" in (
        refused.stderr
    )


def test_check_finds_a_model_whose_incremental_runs_drift_from_a_full_rebuild(user) -> None:
    """An incremental model that drops updates: every run is idempotent, yet the warehouse no
    longer equals a rebuild from scratch. `check` rebuilds into a scratch warehouse and says so
    with the differing rows; exit 1."""
    from stacks_testing.reference import ReferenceSource

    ok(user("run", "drifty"))
    ReferenceSource(user.sources / "customers.jsonl").update({"id": 3}, "name", "renamed")
    ok(user("run", "drifty"))  # raw.customers has the new name; analytics.names the old one
    proc = user("check", "drifty", "--runs", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert "drifty is idempotent: " in proc.stdout
    assert "proved     idempotent: identical after 1 and 2 runs" in lines
    assert any(x.startswith("proved     re-delivery: 2 raw table(s)") for x in lines), lines
    assert (
        "FAILED     full rebuild: incremental != a rebuild from scratch: 1 model table(s) differ"
    ) in lines
    assert "analytics.names: same 8 rows, different content" in lines
    assert "- only in the warehouse: id=3, name='customer 3'" in lines
    assert "+ only in the rebuild: id=3, name='renamed'" in lines


def test_check_finds_a_source_whose_redelivery_differs(user) -> None:
    """A row deleted at the source stays in an incrementally loaded table forever; an EL full
    refresh (the source re-delivered) drops it: `check --json` reports the re-delivery proof
    failed, with the row, and does not claim the rebuild proof; exit 1."""
    from stacks_testing.reference import ReferenceSource

    ok(user("run", "ref"))
    orders = ReferenceSource(user.sources / "orders.jsonl")
    orders.write([r for r in orders.rows() if r["id"] != 24])
    proc = user("check", "ref", "--runs", "2", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["idempotent"] is True and doc["proved"] == ["idempotent"]
    proofs = {p["name"]: p for p in doc["proofs"]}
    assert proofs["redelivery"]["proved"] is False, proofs
    assert "raw.orders: 24 rows -> 23 rows" in proofs["redelivery"]["diff"]
    rows = [x.strip() for x in proofs["redelivery"]["diff"][1:]]
    assert rows == [
        "- only in the warehouse: amount=88.0, customer_id=1, id=24, status='placed', "
        "updated_at='2024-01-02T00:30:00Z'"
    ]
    assert proofs["full_rebuild"]["proved"] is None


def test_json_masks_the_password(user, postgres_warehouse: PostgresWarehouse) -> None:
    url = postgres_warehouse.model_copy(update={"password": SecretStr(SECRET)}).url()
    proc = ok(user("run", "ref", "--json", "-w", url))
    assert json.loads(proc.stdout)["status"] == "succeeded"
    runs = ok(user("runs", "--json", "-w", url))
    assert len(json.loads(runs.stdout)["runs"]) == 1
    for p in (proc, runs):
        assert SECRET not in p.stdout + p.stderr


# --- -q / -v, --vars, completion, ui, init -------------------------------------------------------


def test_quiet_and_vars(user) -> None:
    proc = ok(user("-q", "run", "ref", "--vars", "{n: 1, day: '2024-01-01'}"))
    assert proc.stderr == "" and "succeeded" in proc.stdout
    bad = user("run", "ref", "--vars", "[1, 2]")
    assert bad.returncode == 2 and "--vars must be a mapping" in bad.stderr
    both = user("-q", "-v", "list")
    assert both.returncode == 2 and "-q and -v cannot be used together" in both.stderr


def test_run_window_loads_the_window_and_bad_windows_are_exit_2(user) -> None:
    """`--window A..B`: the rows whose cursor falls in it (the reference orders are updated
    hourly from 2024-01-01T01:30Z: 11 of 24 before noon), in the run record and the ledger."""
    proc = ok(user("-q", "run", "ref", "--window", "2024-01-01..2024-01-01T12:00", "--json"))
    record = json.loads(proc.stdout)
    assert record["rows"] == {"raw.customers": 8, "raw.orders": 11}
    runs = json.loads(ok(user("runs", "ref", "--json")).stdout)
    assert [r["rows"] for r in runs["runs"]] == [{"raw.customers": 8, "raw.orders": 11}]
    for bad, says in [
        ("2024-01-02..2024-01-01", "ends before it starts"),
        ("2024-01-01", "is not START..END"),
        ("yesterday..today", "'yesterday' is not a date or ISO time"),
    ]:
        proc = user("run", "ref", "--window", bad)
        assert proc.returncode == 2, proc.stderr
        # the run's first line, then the one sentence
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"Error: --window {bad!r}") and says in last, proc.stderr


def test_shell_completion_completes_stack_names(user) -> None:
    proc = ok(user(_STACKS_COMPLETE="bash_complete", COMP_WORDS="stacks run r", COMP_CWORD="2"))
    assert "plain,ref" in proc.stdout.splitlines()
    script = ok(user(_STACKS_COMPLETE="bash_source")).stdout
    assert "_stacks_completion" in script


def test_bash_completes_uv_run_stacks_and_hands_the_rest_to_uvs_own(user, tmp_path) -> None:
    """In a shell where nothing is activated `stacks` is not on PATH: `uv run stacks ...` is
    completed through `uv run`; any other `uv ...` by uv's completion, sourced before ours."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_uv = bin_dir / "uv"  # `uv run [--quiet] CMD ...`: CMD from this test's environment
    fake_uv.write_text(
        f'#!/bin/sh\nshift\n[ "$1" = --quiet ] && shift\ncmd=$1\nshift\n'
        f'exec "{STACKS.parent}/$cmd" "$@"\n'
    )
    fake_uv.chmod(0o755)
    script = ok(user(_STACKS_COMPLETE="bash_source")).stdout
    (tmp_path / "completion.bash").write_text(script)
    probe = f"""
_uv() {{ COMPREPLY=(uv-own); }}; complete -F _uv uv
source {tmp_path / "completion.bash"}
complete -p uv
COMP_WORDS=(uv run --frozen stacks run r); COMP_CWORD=5; COMPREPLY=()
_stacks_completion_uv uv r run; echo "stack: ${{COMPREPLY[*]}}"
COMP_WORDS=(uv sy); COMP_CWORD=1; COMPREPLY=()
_stacks_completion_uv uv sy uv; echo "other: ${{COMPREPLY[*]}}"
"""
    env = {**user.env, "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    proc = subprocess.run(["bash", "-c", probe], cwd=user.cwd, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    lines = proc.stdout.splitlines()
    assert "complete -o nosort -F _stacks_completion_uv uv" in lines, proc.stdout + proc.stderr
    assert "stack: ref" in lines and "other: uv-own" in lines, proc.stdout + proc.stderr


def test_ui_of_an_orchestrator_without_one_is_exit_2(user) -> None:
    proc = user("ui", "ref")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: The local orchestrator of ref has no UI."


def test_init_scaffolds_a_stack_package(user) -> None:
    proc = ok(user("init", "my-stack"))
    root = user.cwd / "my-stack"
    assert "Created stack my-stack (package stacks_my_stack)" in proc.stdout
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."stacks.stacks"]\nmy-stack = "stacks_my_stack:build_stack"' in (
        pyproject
    )
    for rel in (
        "src/stacks_my_stack/__init__.py",
        "src/stacks_my_stack/dbt_project/dbt_project.yml",
        "src/stacks_my_stack/dbt_project/models/items_summary.sql",
        "src/stacks_my_stack/landing/items.csv",
        "tests/conftest.py",
        "tests/test_conformance.py",
        "tests/test_stack.py",
    ):
        assert (root / rel).is_file(), rel
    compile((root / "src/stacks_my_stack/__init__.py").read_text(), "init", "exec")
    again = user("init", "my-stack")
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
    bad = user("init", "other", "--name", "Bad_Name")
    assert bad.returncode == 2 and "not a valid stack name" in bad.stderr


def _read_until(proc: subprocess.Popen[str], text: str) -> str:
    """The stderr lines of ``proc`` up to the first holding ``text`` (a progress line: sooner
    than polling the ledger from another process on a loaded machine)."""
    assert proc.stderr is not None
    seen = ""
    while text not in seen:
        line = proc.stderr.readline()
        assert line, f"{text!r} never showed:\n{seen}"
        seen += line
    return seen


def _wait_until_running(user, stack: str, *where: str) -> None:
    """Poll `stacks runs` until the ledger says ``stack`` is running. A poll may find the DuckDB
    file locked by the run's own write (DuckDB lets no reader in beside a writer process)."""
    import time

    deadline = time.monotonic() + 180  # a loaded CI machine (members two at a time) is slow
    while time.monotonic() < deadline:
        proc = user("runs", stack, *where, "--json")
        if proc.returncode == 0:
            listed = json.loads(proc.stdout)["runs"]
            if listed and listed[0]["status"] == "running":
                return
        time.sleep(0.5)
    raise AssertionError(f"{stack} never showed as running in the ledger")


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_is_one_line_exit_130_and_interrupted_in_the_ledger(
    user, signame: str
) -> None:
    import signal

    proc = subprocess.Popen(
        [str(STACKS), "run", "slow"],
        cwd=user.cwd,
        env=user.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a background CI job inherits SIGINT ignored, and Python keeps that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_until_running(user, "slow")
    proc.send_signal(getattr(signal, signame))
    out, errs = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + errs
    assert errs.strip().splitlines()[-1] == "Interrupted; the next run will converge.", errs
    assert "Traceback" not in errs and "KeyboardInterrupt" not in errs
    listed = json.loads(ok(user("runs", "slow", "--json")).stdout)["runs"]
    assert [r["status"] for r in listed] == ["interrupted"]
    assert listed[0]["finished_at"] is not None


def test_a_second_ctrl_c_leaves_at_once(user) -> None:
    """A tool may swallow Ctrl-C while it winds down; the second one is the user insisting:
    exit 130 at once, one line."""
    import signal
    import time

    proc = subprocess.Popen(
        [str(STACKS), "run", "stubborn"],
        cwd=user.cwd,
        env=user.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_until_running(user, "stubborn")
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None, "the tool swallows the first Ctrl-C for a minute"
    second = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, errs = proc.communicate(timeout=60)
    assert time.monotonic() - second < 5, "the second Ctrl-C did not leave at once"
    assert proc.returncode == 130, out + errs
    assert errs.strip().splitlines()[-1] == (
        "Interrupted again: leaving now; the next run will converge."
    )
    assert "Traceback" not in errs


def test_a_killed_run_is_marked_abandoned_by_stacks_runs_or_the_next_run(user) -> None:
    """SIGKILL leaves no chance to write the ledger: `stacks runs`, finding the run lock the dead
    one held free, marks it abandoned (a lease, not a guess); so would the next run."""
    import signal

    env = user.env
    proc = subprocess.Popen([str(STACKS), "run", "slow"], cwd=user.cwd, env=env)
    _wait_until_running(user, "slow")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    listed = json.loads(ok(user("runs", "slow", "--json")).stdout)["runs"]
    assert [r["status"] for r in listed] == ["abandoned"]
    ok(user("run", "slow", SLOW_SECONDS="0"))
    listed = json.loads(ok(user("runs", "slow", "--json")).stdout)["runs"]
    assert [r["status"] for r in listed] == ["succeeded", "abandoned"]
    assert listed[1]["error"] == (
        "its process ended without recording an end (killed or cut off): `stacks runs` found "
        "its lock file free"
    )


def test_an_outage_longer_than_the_retries_is_exit_1_with_the_summary(user) -> None:
    """The warehouse goes away during the run for longer than the retries wait: the run failed
    (exit 1, the summary, one sentence), not bad configuration (exit 2); the next run marks it
    abandoned, saying what it found."""
    from stacks_testing.postgres import local_cluster

    with local_cluster() as server:
        url = server.create_database("outage").url()
        proc = subprocess.Popen(
            [str(STACKS), "run", "slow", "-w", url],
            cwd=user.cwd,
            env={**user.env, "SLOW_SECONDS": "6"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        before = _read_until(proc, "customers running")
        server.stop()
        out, errs = proc.communicate(timeout=120)  # every retry is spent while it is down
        errs = before + errs
        server.start()
        assert proc.returncode == 1, out + errs
        assert "status" in out and "failed" in out and "Run " in out, out
        last = errs.strip().splitlines()[-1]
        assert last.startswith("Error: run ") and " of slow failed: the warehouse was " in last
        assert "the next run marks it and converges" in last
        ok(user("run", "slow", "-w", url, SLOW_SECONDS="0"))
        listed = json.loads(ok(user("runs", "slow", "-w", url, "--json")).stdout)["runs"]
        assert [r["status"] for r in listed] == ["succeeded", "abandoned"]
        assert listed[1]["error"].startswith(
            "its process ended without recording an end (killed or cut off): run "
            f"{listed[0]['run_id']} found its run lock free and its lease expired (last heartbeat "
        )  # the outage outlasted the lease (30 s)


# --- the run lock ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_second_run_of_a_stack_exits_2_at_once_or_waits(user, engine: str, request) -> None:
    """One run at a time per stack and warehouse: while a run holds the lock, `stacks run`
    exits 2 naming the run that holds it; `--wait` starts when it ends."""
    import time

    from stacks_contract.models import RunRequest
    from stacks_contract.warehouse import parse_warehouse
    from stacks_core.runlock import run_lock

    if engine == "postgres":
        wh = request.getfixturevalue("postgres_warehouse")
        url = wh.url()
    else:
        url = str(user.cwd / "shop.duckdb")
        wh = parse_warehouse(url)
    holder = RunRequest(stack="ref")
    from stacks_core.ledger import Ledger

    with run_lock(wh, "ref", holder):
        Ledger(wh).start("ref", "elsewhere", holder)  # what the holding run has recorded
        second = user("run", "ref", "-w", url)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "ref is already running into this warehouse since " in second.stderr
        assert f"run id {holder.run_id}" in second.stderr
        assert "(run " not in second.stderr, "a refused run names a run that never exists"
        waiting = subprocess.Popen(
            [str(STACKS), "run", "ref", "-w", url, "--wait", "--json"],
            cwd=user.cwd,
            env=user.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert waiting.poll() is None, "--wait did not wait for the lock"
    out, errs = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, out + errs
    assert json.loads(out)["status"] == "succeeded"


# --- exit codes of a warehouse or a folder that cannot be written -------------------------------


def test_missing_privileges_are_exit_2_with_the_databases_words(user, postgres_warehouse) -> None:
    """A warehouse user who may not create schemas: bad configuration (exit 2), one sentence
    naming the user and the database's refusal; not "unexpected InsufficientPrivilege"."""
    from stacks_core.sql import connect

    with connect(postgres_warehouse) as conn:
        conn.execute("drop role if exists stacks_reader")
        conn.execute("create role stacks_reader login")
        conn.execute(f'revoke create on database "{postgres_warehouse.database}" from public')
    reader = postgres_warehouse.model_copy(update={"user": "stacks_reader"})
    try:
        proc = user("run", "ref", "-w", reader.url())
    finally:
        with connect(postgres_warehouse) as conn:
            conn.execute("drop owned by stacks_reader")
            conn.execute("drop role stacks_reader")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: the user 'stacks_reader' lacks a privilege on postgresql://")
    assert "permission denied to create schema(s) raw, stacks_meta" in line
    assert "unexpected" not in proc.stderr
    assert "Running ref" not in proc.stderr, "found before the run (and any tool) started"


# --- clean ---------------------------------------------------------------------------------------


def test_clean_removes_a_stacks_local_state_with_sizes_never_its_data(user) -> None:
    """`stacks clean NAME`: the tools' state for the warehouse (as the stack's steps declare it)
    and the run-lock file beside the DuckDB file go, each listed with its size; the warehouse
    file and its ledger stay. While a run holds the stack's run lock, it refuses with exit 2."""
    from stacks_contract.models import RunRequest
    from stacks_contract.warehouse import parse_warehouse
    from stacks_core.runlock import run_lock

    ok(user("run", "stateful"))
    stacks = user.cwd / ".stacks"
    [state] = user.state.iterdir()
    lock = stacks / "stateful.duckdb.stateful.lock"
    assert (state / "state.json").exists() and lock.exists()

    dry = ok(user("clean", "stateful", "--dry-run")).stdout
    assert "Would remove 2 path(s)" in dry and state.exists() and lock.exists()

    wh = parse_warehouse(str(stacks / "stateful.duckdb"))
    with run_lock(wh, "stateful", RunRequest(stack="stateful")):
        refused = user("clean", "stateful")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "stateful is already running into this warehouse" in refused.stderr
    assert state.exists()

    out = ok(user("clean", "stateful")).stdout
    assert "Removed 2 path(s)" in out and "of local state of stateful on duckdb://" in out
    assert f"200 B  {state}" in out
    assert f"0 B  {lock}" in out
    assert not state.exists() and not lock.exists()
    assert [p.name for p in stacks.iterdir()] == ["stateful.duckdb"]  # the data is kept
    from stacks_core.ledger import Ledger

    assert [r.status for r in Ledger(wh).runs("stateful")] == ["succeeded"]
    again = ok(user("clean", "stateful", "--json"))
    assert json.loads(again.stdout)["stacks"][0]["removed"] == []


def test_clean_refuses_while_a_stack_sharing_its_state_runs(user) -> None:
    """Two stacks keeping the same folder for a warehouse (dlt's, say): cleaning one while the
    other runs would pull the folder from under that run: exit 2, naming both; once it ended,
    the folder goes."""
    from stacks_contract.warehouse import parse_warehouse
    from stacks_core.runlock import run_lock

    ok(user("run", "stateful"))
    [state] = user.state.iterdir()
    wh = parse_warehouse(str(user.cwd / ".stacks" / "stateful.duckdb"))
    with run_lock(wh, "sharing", "r-sharing"):
        refused = user("clean", "stateful")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"Error: {state} is shared by stateful and sharing, and sharing is already running " in (
        refused.stderr
    )
    assert "run id r-sharing" in refused.stderr and state.exists()
    ok(user("clean", "stateful"))
    assert not state.exists()


def test_clean_keeps_state_of_every_warehouse_unless_shared_and_not_in_use(user) -> None:
    """An orchestrator's home serves every warehouse: `clean NAME` keeps it and says so;
    `--shared` removes it, but not while another process holds a file in it open."""
    ok(user("run", "homed"))
    home = user.cwd / ".stacks" / "home"
    home.mkdir()
    (home / "history.db").write_text("x" * 10)
    kept = ok(user("clean", "homed")).stdout
    assert f"Kept {home}: every warehouse shares it (--shared removes it)." in kept
    assert home.exists()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; f = open(sys.argv[1]); time.sleep(60)",
            str(home / "history.db"),
        ]
    )
    try:
        import time

        time.sleep(1)
        busy = user("clean", "homed", "--shared")
        assert busy.returncode == 2, busy.stdout + busy.stderr
        assert f"Error: {home} is in use by process {holder.pid} " in busy.stderr
        assert home.exists()
    finally:
        holder.kill()
        holder.wait()
    gone = ok(user("clean", "homed", "--shared")).stdout
    assert f"10 B  {home}" in gone and not home.exists()


def test_clean_drops_the_scratch_database_a_killed_check_left(user, postgres_warehouse) -> None:
    from stacks_core.scratch import scratch_target
    from stacks_core.sql import connect, quote_ident

    scratch = scratch_target(postgres_warehouse, "ref")
    with connect(postgres_warehouse) as conn:
        conn.execute(f"create database {quote_ident(scratch.database)}")  # type: ignore[union-attr]
    try:
        url = postgres_warehouse.url()
        dry = ok(user("clean", "ref", "-w", url, "--dry-run")).stdout
        assert f"database {scratch.database} (a scratch of stacks check)" in dry  # type: ignore[union-attr]
        ok(user("clean", "ref", "-w", url))
        with connect(postgres_warehouse) as conn:
            left = conn.execute(
                "select 1 from pg_database where datname = ?",
                [scratch.database],  # type: ignore[union-attr]
            )
        assert left == []
    finally:
        with connect(postgres_warehouse) as conn:
            conn.execute(f"drop database if exists {quote_ident(scratch.database)}")  # type: ignore[union-attr]


def test_a_password_on_the_command_line_warns_and_is_masked_in_ps(user, postgres_warehouse) -> None:
    """It still works, with a one-line warning pointing at PGPASSWORD, ~/.pgpass and
    STACKS_WAREHOUSE; for the rest of the run `ps` shows it masked."""
    url = postgres_warehouse.model_copy(update={"password": SecretStr(SECRET)}).url()
    proc = subprocess.Popen(
        [str(STACKS), "run", "slow", "-w", url],
        cwd=user.cwd,
        env={**user.env, "SLOW_SECONDS": "5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    before = _read_until(proc, "customers running")
    shown = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    out, errs = proc.communicate(timeout=120)
    errs = before + errs
    assert proc.returncode == 0, out + errs
    assert b"slow" in shown and b"postgresql://" in shown and SECRET.encode() not in shown
    assert errs.splitlines()[0] == (
        "Warning: a password on the command line is readable by every local user (ps) while the "
        "command starts; give it in PGPASSWORD, ~/.pgpass or STACKS_WAREHOUSE instead."
    )
    assert SECRET not in out + errs
    quiet = ok(user("run", "ref", STACKS_WAREHOUSE=url))  # from the environment: no warning
    assert "Warning" not in quiet.stderr


def test_a_schema_the_stack_does_not_load_into_is_exit_2_before_anything_runs(user) -> None:
    """`?schema=X` names where the EL steps load; a stack whose steps write elsewhere would load
    one schema and model another: refused with the reason, before the warehouse is touched."""
    target = user.cwd / "w.duckdb"
    proc = user("run", "ref", "-w", f"duckdb://{target}?schema=landing")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: ref loads its raw tables into the schema raw, not 'landing' as the warehouse "
        "URL's ?schema= asks; drop ?schema= from the URL (its steps choose their schema)."
    )
    assert not target.exists()
    ok(user("run", "ref", "-w", f"duckdb://{target}?schema=raw"))  # the schema it loads: fine
