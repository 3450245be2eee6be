"""`stacks init` as a user runs it: scaffold a stack, install it with the workspace's packages
into a fresh virtual environment (one `uv venv`; the versions pinned by uv.lock, the wheels from
uv's cache or PyPI), then `stacks list` shows it, `stacks run` loads rows into DuckDB with the
`--vars` given, and the scaffold's own test passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[3]
MEMBERS = (
    "packages/contract",
    "packages/core",
    "packages/cli",
    "packages/el-dlt",
    "packages/transform-dbt",
)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{(proc.stdout + proc.stderr)[-4000:]}"
    return proc


@pytest.mark.slow
def test_init_then_install_list_run_and_test(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to install the scaffold (it runs this repository's tests)"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "STACKS_WAREHOUSE")
    }
    made = _run([str(BIN / "stacks"), "init", "my-stack"], tmp_path, env)
    assert "Created stack my-stack" in made.stdout
    stack_dir = tmp_path / "my-stack"

    # the scaffold's dependencies from this checkout, at the versions uv.lock pins
    reqs = tmp_path / "requirements.txt"
    _run(
        [uv, "export", "--frozen", "--package", "stacks-dagster-dlt-dbt", "--no-dev",
         "--no-hashes", "--no-emit-workspace", "--no-header", "-q", "-o", str(reqs)],
        ROOT, env,
    )  # fmt: skip
    overrides = tmp_path / "overrides.txt"  # as the workspace root's [tool.uv] does
    overrides.write_text("dbt-core-experimental-parser; sys_platform == 'never'\n")
    venv = tmp_path / "venv"
    _run([uv, "venv", "-q", str(venv), "--python", sys.executable], tmp_path, env)
    python = venv / "bin" / "python"
    editable = [a for m in MEMBERS for a in ("-e", str(ROOT / m))]
    _run(
        [uv, "pip", "install", "-q", "--python", str(python), "-r", str(reqs),
         "--override", str(overrides), *editable,
         "-e", f"{ROOT / 'packages/orch-dagster'}[dlt,dbt]", "-e", str(stack_dir)],
        tmp_path, env,
    )  # fmt: skip

    stacks = str(venv / "bin" / "stacks")
    listed = _run([stacks, "list"], tmp_path, env)
    assert "my-stack" in listed.stdout and "in-code dlt resource" in listed.stdout

    ran = _run([stacks, "run", "my-stack", "--vars", "{min_price: 1}"], tmp_path, env)
    assert "succeeded" in ran.stdout and "raw.items" in ran.stdout
    db = tmp_path / ".stacks" / "my-stack.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.items").fetchall() == [(3,)]
        # two of the three items cost at least 1: --vars reached the dbt model
        assert conn.execute("select items from analytics.items_summary").fetchall() == [(2,)]

    tested = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], stack_dir, env)
    assert "1 passed" in tested.stdout
