"""`stacks init` as a newcomer follows it: the commands it prints, verbatim, in a shell. Made
below a uv workspace root (as at this repository's root, where the README puts it) they install
the stack into its own environment, list it, run it and pass its conformance suites; copied
outside the workspace, the same commands do the same. No environment is activated: `uv run`
does the work.

The new stack's suites run on DuckDB here (`STACKS_TEST_WAREHOUSES=duckdb`): on Postgres the same
suites run over el-dlt's and transform-dbt's own steps in their packages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

STACKS = Path(sys.executable).parent / "stacks"
ROOT = Path(__file__).resolve().parents[3]  # the checkout
# a fresh environment resolved and installed, a run, the new stack's suites: minutes, not seconds
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def user_env(**extra: str) -> dict[str, str]:
    """A shell with uv on PATH and no environment of this test's: nothing activated."""
    drop = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "STACKS_WAREHOUSE", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != STACKS.parent]
    return {**env, "PATH": os.pathsep.join(path), "UV_NO_PROGRESS": "1", **extra}


def printed_commands(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Next"))
    return [line.strip() for line in lines[start + 1 :] if line.strip()]


def shell(commands: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(commands)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{commands} exited {proc.returncode}:\n{out[-6000:]}"
    return out


def test_the_printed_commands_run_the_stack_and_its_tests(tmp_path: Path) -> None:
    assert shutil.which("uv"), "uv runs the printed commands (it runs this repository's tests)"
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "pyproject.toml", repo)  # a uv workspace root above it, as here
    made = subprocess.run(
        [str(STACKS), "init", "my-stack"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    commands = printed_commands(made.stdout)
    assert commands == [
        "cd my-stack",
        "uv run stacks list",
        "uv run stacks run my-stack",
        "uv run pytest tests",
    ]
    ran_green(shell(commands, repo, user_env(STACKS_TEST_WAREHOUSES="duckdb")), repo)

    # the same commands, verbatim, on a copy outside any uv workspace: its own fresh lock and
    # .venv (the packages come from uv's cache, filled by the run above)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(
        repo / "my-stack",
        elsewhere / "my-stack",
        ignore=shutil.ignore_patterns(".venv", ".stacks", "uv.lock", ".pytest_cache"),
    )
    ran_green(shell(commands, elsewhere, user_env(STACKS_TEST_WAREHOUSES="duckdb")), elsewhere)
    assert (elsewhere / "my-stack/uv.lock").is_file() and (elsewhere / "my-stack/.venv").is_dir()


def ran_green(out: str, where: Path) -> None:
    """The printed commands listed the stack, ran it, and its suites passed, on DuckDB."""
    assert "my-stack" in out and "succeeded" in out
    summary = re.findall(r"^=+ (.+) in [\d.]+s(?: \(.*\))? =+$", out, re.M)[-1]
    assert "passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "warehouses: duckdb\n" in out
    with duckdb.connect(str(where / "my-stack/.stacks/my-stack.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from raw.items").fetchall() == [(3,)]
        assert db.execute("select items from analytics.items_summary").fetchall() == [(3,)]
