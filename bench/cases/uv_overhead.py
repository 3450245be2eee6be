"""What `uv run` costs every command before any of our code runs: CPU seconds of a whole
`uv run python -c pass` in the workspace (as the README starts every command), beside a bare
`python -c pass` (the interpreter's own floor); and whether uv compiled bytecode on the way."""

from __future__ import annotations

import shutil
import subprocess
import sys

from harness import HERE, Bench, Unavailable, log, median, timed, user_env

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("uv_run_overhead_s_cpu",)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise Unavailable("no uv on PATH")
    env = user_env()
    commands = {
        "uv_run": [uv, "run", "python", "-c", "pass"],
        "python": [sys.executable, "-c", "pass"],
    }
    compiled = False
    samples: dict[str, list] = {k: [] for k in commands}
    for i in range(max(b.repeat, 5) + 1):
        for name, cmd in commands.items():
            t, p = timed(
                lambda cmd=cmd: subprocess.run(
                    cmd, env=env, cwd=HERE.parent, capture_output=True, text=True
                )
            )
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:3])} failed: {p.stderr[-500:]}")
            compiled = compiled or "Bytecode compiled" in p.stderr
            if i:  # the first round warms uv's cache and the page cache
                samples[name].append(t)
    for name, ts in samples.items():
        b.samples(f"t_{name}_pass_s", ts)
    b.record("uv_run_overhead_s_cpu", round(median([t.cpu for t in samples["uv_run"]]), 3))
    b.record("python_pass_s_cpu", round(median([t.cpu for t in samples["python"]]), 3))
    b.record("uv_run_compiles_bytecode", compiled)
    log(
        f"  uv run python -c pass: {b.out['uv_run_overhead_s_cpu']} CPU s "
        f"(python alone {b.out['python_pass_s_cpu']}; bytecode compiled: {compiled})"
    )
