"""What a newcomer waits for at the terminal (issue 30): `stacks plan dagster-dlt-dbt` as a whole
process (after one cold call: the dbt project's declaration is then on disk), and `stacks run`
of the stack `stacks init` writes, over a landing folder holding one 300k-row CSV file (100k with
--quick), under Dagster into a fresh DuckDB file: seconds from the spawn to its first line on
stderr, and the longest time between two lines until it ends."""

from __future__ import annotations

import itertools
import selectors
import subprocess
import sys
import time
from pathlib import Path

from harness import Bench, Unavailable, log, timed, user_env

KEYS: tuple[str, ...] = ("stacks_plan_s", "cli_first_line_s", "cli_longest_silence_s")
QUICK = True
ROWS, QUICK_ROWS = 300_000, 100_000


def _stacks() -> list[str]:
    exe = Path(sys.executable).parent / "stacks"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "stacks_cli.main"]


def _lines(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[list[float], int, str]:
    """Run ``cmd``; the seconds since the spawn at which each stderr line came, the exit code
    and the output's tail."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    times: list[float] = []
    tail: list[str] = []
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            sel.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        while sel.get_map():
            for key, _ in sel.select():
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if not line:
                    sel.unregister(key.fileobj)
                    continue
                if key.fileobj is proc.stderr:
                    times.append(time.monotonic() - t0)
                tail = [*tail[-20:], line]
    return times, proc.wait(), "".join(tail)


def run(b: Bench) -> None:
    try:
        from stacks_cli.scaffold import checkout, render
    except ImportError as exc:
        raise Unavailable(f"stacks-cli is not importable ({exc})") from None
    env = user_env()
    cwd = b.tmp / "cli-latency"
    cwd.mkdir()

    def plan() -> None:
        proc = subprocess.run(
            [*_stacks(), "plan", "dagster-dlt-dbt"], cwd=cwd, env=env, capture_output=True
        )
        if proc.returncode:
            raise RuntimeError(f"`stacks plan` failed: {proc.stderr.decode()[-1500:]}")

    timed(plan)  # cold: parses the dbt project once, stores its declaration
    plans = [timed(plan)[0] for _ in range(b.repeat_heavy)]
    b.samples("stacks_plan_s", plans)
    log(f"  stacks plan {plans[-1]:.2f}s")

    stack = cwd / "latency-stack"
    for rel, text in render("latency-stack", checkout()).items():
        (stack / rel).parent.mkdir(parents=True, exist_ok=True)
        (stack / rel).write_text(text)
    landing = cwd / "landing"
    landing.mkdir()
    rows = QUICK_ROWS if b.args.quick else ROWS
    with open(landing / "items.csv", "w") as f:
        f.write("id,name,price\n")
        f.writelines(f"{i},item {i},{i % 1000}.25\n" for i in range(1, rows + 1))
    module = stack / "src" / "stacks_latency_stack" / "__init__.py"
    cmd = [*_stacks(), "run", f"{module}:build_stack", "-w", str(cwd / "latency.duckdb")]
    run_env = {**env, "LATENCY_STACK_LANDING": str(landing)}
    times, code, tail = _lines(cmd, run_env, cwd)
    if code or not times:
        raise RuntimeError(f"`stacks run` of the scaffold exited {code}: {tail[-1500:]}")
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    b.record("cli_first_line_s", round(times[0], 3))
    b.record("cli_longest_silence_s", round(max(gaps, default=0.0), 3))
    b.record("cli_run_rows", rows)
    b.record("cli_run_s", round(times[-1], 1))
    log(f"  first line {times[0]:.2f}s, longest silence {max(gaps, default=0):.1f}s, {rows} rows")
