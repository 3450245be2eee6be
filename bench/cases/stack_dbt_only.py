"""The stack's cost around dbt, as a user pays it: `uv run stacks run ... --exclude app` (the
models only: 13 models and 4 tests of bench/dbt_sample over the sample app database, a DuckDB
warehouse) as a whole process vs `dbt build` as a command on the same project and file (its own
target dir, the same --vars every time: partial parsing, dbt's best case). Under Dagster (the
recommended stacks' orchestrator; the goal key) and under the Local orchestrator (stacks' own
cost). After one cold run of each; alternating."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from harness import HERE, Bench, T, Unavailable, log, timed, user_env, wh_conn
from peers import sourcedb

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("stack_dbt_only_vs_dbt_build",)
#: part of a --quick run
QUICK = False

ROOT = HERE.parent
STACK = f"{HERE / 'peers' / 'stack_sql.py'}:stack"
PROJECT = HERE / "dbt_sample"


def run(b: Bench) -> None:
    try:
        from stacks_contract.models import RunRequest
        from stacks_transform_dbt import DbtTransform
    except ImportError as exc:
        raise Unavailable(f"stacks_transform_dbt is not importable ({exc})") from None
    dbt_exe = Path(sys.executable).parent / "dbt"
    uv = shutil.which("uv")
    if not dbt_exe.exists() or uv is None:
        raise Unavailable("no dbt executable beside the interpreter, or no uv on PATH")
    source = b.pg("sample")
    with wh_conn(source) as conn:
        sourcedb.sample_schema(conn, b.args.peer_rows)
    wh = b.duck("dbt-only")
    base = user_env()
    env = {
        **base,
        "BENCH_SQL_SOURCE": source.url(),
        "BENCH_DBT_PROJECT": str(PROJECT),
        "STACKS_DLT_DIR": str(b.workdir()),
    }
    transform = DbtTransform(PROJECT, schema="analytics", state_dir=b.tmp / "dbt-only-command")
    inv = transform.invocation(wh, RunRequest(stack="bench-sql"))
    dbt_cmd, dbt_env = [str(dbt_exe), *inv.args("build")], {**base, **inv.env}

    def proc(cmd: list[str], env: dict[str, str], what: str) -> T:
        s, p = timed(lambda: subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True))
        if p.returncode != 0:
            raise RuntimeError(f"{what} failed: {p.stdout[-1500:]}{p.stderr[-1500:]}")
        return s

    stack_cmd = [uv, "run", "stacks", "-q", "run", STACK, "--warehouse", str(wh.path)]
    proc(stack_cmd, env, "`stacks run` (loads the sample database, builds the models)")
    b.record("t_dbt_only_command_first_s", round(proc(dbt_cmd, dbt_env, "`dbt build`"), 3))
    for label, orch in (("", "dagster"), ("_local", "local")):
        o_env = {**env, "BENCH_STACK_ORCH": orch}
        cmd = [*stack_cmd, "--exclude", "app"]
        b.record(f"t_stack_dbt_only{label}_first_s", round(proc(cmd, o_env, "`stacks run`"), 3))
        stacks_runs, dbts = [], []
        for _ in range(b.repeat_heavy):
            stacks_runs.append(proc(cmd, o_env, f"`stacks run --exclude app` ({orch})"))
            dbts.append(proc(dbt_cmd, dbt_env, "`dbt build`"))
            log(f"  dbt only, {orch}: stacks {stacks_runs[-1]:.2f}s  dbt build {dbts[-1]:.2f}s")
        b.samples(f"t_stack_dbt_only{label}_s", stacks_runs)
        b.samples(f"t_dbt_build_sample{label}_s", dbts)
        b.ratio(f"stack_dbt_only{label}_vs_dbt_build", stacks_runs, dbts)
    b.record("stack_dbt_only_models", 13)
