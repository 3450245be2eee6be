"""A 3-model project (bench/dbt_project) over the rows in Postgres: in-process through
DbtTransform.run vs `dbt build` as a command, alternating, each after one warm-up run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import refs
from harness import HERE, Bench, Unavailable, log, timed, user_env, wh_conn

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("dbt_inproc_vs_command",)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    try:
        from stacks_transform_dbt import DbtTransform
    except ImportError as exc:
        raise Unavailable(f"stacks_transform_dbt.DbtTransform is not importable ({exc})") from None
    from stacks_contract.models import RunRequest

    wh = b.pg("dbt")
    refs.pg_copy_binary(wh.url(), "raw", b.copy_payload, pk=False)
    with wh_conn(wh) as conn:
        conn.execute("alter table raw.orders_copy rename to orders")
    transform = DbtTransform(HERE / "dbt_project", state_dir=b.tmp / "dbt-state")
    dbt_exe = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    if not Path(dbt_exe).exists():
        raise Unavailable("no dbt executable beside the interpreter or on PATH")

    def inproc() -> float:
        s, result = timed(lambda: transform.run(RunRequest(stack="bench"), wh))
        if not result.ok:
            raise RuntimeError(f"in-process dbt build failed: {result}")
        return s

    # one request for every command run: the same --vars let dbt's partial parsing reuse the
    # previous parse (a new run id in --vars forces a full re-parse), the command's best case
    cmd_request = RunRequest(stack="bench")

    def command() -> float:
        inv = transform.invocation(wh, cmd_request)
        env = {**user_env(), **inv.env}
        s, proc = timed(
            lambda: subprocess.run(
                [dbt_exe, *inv.args("build")], env=env, capture_output=True, text=True
            )
        )
        if proc.returncode != 0:
            raise RuntimeError(f"`dbt build` failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        return s

    cold_in = inproc()
    cold_cmd = command()
    ins, cmds = [], []
    for _ in range(b.repeat_heavy):
        i = inproc()
        c = command()
        ins.append(i)
        cmds.append(c)
        log(f"  dbt: in-process {i:.2f}s  command {c:.2f}s")
    b.record("t_dbt_inproc_first_s", round(cold_in, 3))
    b.record("t_dbt_command_first_s", round(cold_cmd, 3))
    b.samples("t_dbt_inproc_s", ins)
    b.samples("t_dbt_command_s", cmds)
    b.ratio("dbt_inproc_vs_command", ins, cmds)
    b.record("dbt_models_rows", b.rows)
