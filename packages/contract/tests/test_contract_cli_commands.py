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
from stacks_contract.local import LocalOrchestrator
from stacks_contract.ports import Stack
from stacks_testing.reference import reference_stack


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
            time.sleep(float(os.environ.get("SLOW_SECONDS", "60")))  # stopped before it ends
            return run(request, warehouse)

        object.__setattr__(step, "run", slow_run)
        return spec


def slow():
    return SlowStack()
"""


@pytest.fixture
def user(tmp_path: Path):
    """Runs `stacks ARGS` in a fresh working directory with the `ref` stack installed."""
    site = install_stacks(
        tmp_path / "site",
        dist="ref-stack",
        module="_ref_stack",
        source=STACK_MODULE,
        stacks={"ref": "build", "slow": "slow"},
        summary="the reference stack",
    )
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STACKS_WAREHOUSE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["REF_SOURCES"] = str(tmp_path / "sources")

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
    assert "(run `stacks run ref` first)." in proc.stdout
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


def test_shell_completion_completes_stack_names(user) -> None:
    proc = ok(user(_STACKS_COMPLETE="bash_complete", COMP_WORDS="stacks run r", COMP_CWORD="2"))
    assert "plain,ref" in proc.stdout.splitlines()
    script = ok(user(_STACKS_COMPLETE="bash_source")).stdout
    assert "_stacks_completion" in script


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
        "tests/test_stacks_my_stack.py",
    ):
        assert (root / rel).is_file(), rel
    compile((root / "src/stacks_my_stack/__init__.py").read_text(), "init", "exec")
    again = user("init", "my-stack")
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
    bad = user("init", "other", "--name", "Bad_Name")
    assert bad.returncode == 2 and "not a valid stack name" in bad.stderr


def _wait_until_running(user, stack: str) -> None:
    """Poll `stacks runs` until the ledger says ``stack`` is running. A poll may find the DuckDB
    file locked by the run's own write (DuckDB lets no reader in beside a writer process)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        proc = user("runs", stack, "--json")
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
    assert "its process died" in listed[1]["error"]


# --- the run lock ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_second_run_of_a_stack_exits_2_at_once_or_waits(user, engine: str, request) -> None:
    """One run at a time per stack and warehouse: while a run holds the lock, `stacks run`
    exits 2 naming the run that holds it; `--wait` starts when it ends."""
    import time

    from stacks_contract.models import RunRequest
    from stacks_contract.runlock import run_lock
    from stacks_contract.warehouse import parse_warehouse

    if engine == "postgres":
        wh = request.getfixturevalue("postgres_warehouse")
        url = wh.url()
    else:
        url = str(user.cwd / "shop.duckdb")
        wh = parse_warehouse(url)
    holder = RunRequest(stack="ref")
    from stacks_contract.ledger import Ledger

    with run_lock(wh, "ref", holder):
        Ledger(wh).start("ref", "elsewhere", holder)  # what the holding run has recorded
        second = user("run", "ref", "-w", url)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "ref is already running into this warehouse since " in second.stderr
        assert f"run id {holder.run_id}" in second.stderr
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
    from stacks_contract.sql import connect

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
    assert "permission denied" in line
    assert "unexpected" not in proc.stderr
