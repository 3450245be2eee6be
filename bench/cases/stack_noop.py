"""The main job's second run as a user runs it (`stacks run dagster-dlt-dbt`, a whole
process, DuckDB warehouse, the demo shop served by the bench so both runs see the same data)
vs `dbt build` as a command on the same shop dbt project and the same warehouse (its own
target dir, the same --vars every time, so dbt's partial parsing applies: its best case).
After one cold run of each; alternating, side by side."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import Bench, T, Unavailable, log, timed, user_env

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("stack_noop_vs_dbt_command",)
#: part of a --quick run
QUICK = False


def run(b: Bench) -> None:
    try:
        from stacks_dagster_dlt_dbt.stack import MARTS_SCHEMA, NAME, SHOP_SEED
        from stacks_demo import SHOP_DBT_PROJECT
        from stacks_demo.shop import ShopServer
        from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
        from stacks_transform_dbt import DbtTransform
    except ImportError as exc:
        raise Unavailable(f"the dagster-dlt-dbt stack is not importable ({exc})") from None
    from stacks_contract.models import RunRequest

    bindir = Path(sys.executable).parent
    exe = bindir / "stacks"
    stack_cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "stacks_cli.main"]
    stack_cmd += ["run", NAME]
    dbt_exe = bindir / "dbt"
    if not dbt_exe.exists():
        raise Unavailable("no dbt executable beside the interpreter")
    wh = b.duck("stack-noop")
    transform = DbtTransform(
        SHOP_DBT_PROJECT, name="dbt", schema=MARTS_SCHEMA, state_dir=b.tmp / "shop-dbt-command"
    )
    inv = transform.invocation(wh, RunRequest(stack=NAME))

    def proc(cmd: list[str], env: dict[str, str], what: str) -> T:
        s, p = timed(
            lambda: subprocess.run(cmd, env=env, cwd=b.tmp, capture_output=True, text=True)
        )
        if p.returncode != 0:
            raise RuntimeError(f"{what} failed: {p.stdout[-1500:]}{p.stderr[-1500:]}")
        return s

    # whole processes as a user's shell runs them: Python writes and reuses its bytecode cache
    # (this machine sets PYTHONDONTWRITEBYTECODE=1, which makes every process compile each module
    # it imports from source: ~12 s of a loaded no-op stack run, see bench/README.md)
    base = user_env()
    with ShopServer(seed=SHOP_SEED) as shop:
        env = {**base, "STACKS_WAREHOUSE": str(wh.path), SHOP_URL_ENV: shop.url}
        dbt_env = {**base, **inv.env}
        dbt_cmd = [str(dbt_exe), *inv.args("build")]
        cold_stack = proc(stack_cmd, env, "`stacks run`")  # loads the shop, parses, builds
        cold_dbt = proc(dbt_cmd, dbt_env, "`dbt build`")
        stacks_runs, dbts = [], []
        for _ in range(b.repeat_heavy):
            stacks_runs.append(proc(stack_cmd, env, "`stacks run` (second run)"))
            dbts.append(proc(dbt_cmd, dbt_env, "`dbt build`"))
            log(f"  no-op stack run {stacks_runs[-1]:.2f}s  dbt build command {dbts[-1]:.2f}s")
    b.record("stack_noop_command", " ".join([Path(stack_cmd[0]).name, *stack_cmd[1:]]))
    b.record("t_stack_first_process_s", round(cold_stack, 3))
    b.record("t_dbt_shop_command_first_s", round(cold_dbt, 3))
    b.samples("t_stack_noop_process_s", stacks_runs)
    b.samples("t_dbt_shop_command_s", dbts)
    b.ratio("stack_noop_vs_dbt_command", stacks_runs, dbts)
