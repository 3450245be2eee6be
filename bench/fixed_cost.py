"""``el_process_fixed``: what a new Python process pays before an el-dlt step's first row.

Each sample is one ``el_fixed_child.py`` process (bytecode cache on, as a user's install has it)
running a small keyed dict step that already ran once against the same Postgres database and
working folder. ``el_process_fixed_s`` = wall seconds from just before the process is spawned to
the first row the source yields; ``el_process_fixed_split`` says where they go (medians):

* ``interpreter``: spawn + Python start-up (the floor any process pays);
* ``imports``: ``stacks_contract`` + ``stacks_el_dlt`` imports (+ the script's);
* ``step``: parsing the warehouse URL (the contract imports psycopg) and building the step;
* ``preflight``: ``DltStep.run`` up to ``dlt_pipeline`` (Postgres preflight connection);
* ``pipeline``: ``dlt_pipeline`` (``import dlt``, config resolution, ``dlt.pipeline()``);
* ``sync``: dlt's ``sync_destination`` (state and schema restore from the warehouse);
* ``source``: ``dlt_source`` (building the source and its hints);
* ``refresh``: the full-refresh / dropped-table check (after the sync it runs);
* ``other``: the rest (extract's start-up to the first row);
* ``cpu``: the child's CPU seconds (all threads) at the first row: less noisy than wall time
  on a shared machine (also as ``el_process_fixed_cpu_s``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("el_fixed_child.py")
PHASES = (
    "interpreter",
    "imports",
    "step",
    "preflight",
    "pipeline",
    "sync",
    "source",
    "other",
    "cpu",
)


def _env(compiled: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not compiled:
        # no .pyc anywhere (an empty cache prefix) and none written: every import compiles its
        # source, as in an environment installed without bytecode on a machine that exports
        # PYTHONDONTWRITEBYTECODE=1 (this one; issue 15's "3 to 4 s" was measured so)
        import tempfile

        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="no-pyc-")
    return env


def one_process(
    url: str, workdir: Path, python: str = sys.executable, *, compiled: bool = True
) -> tuple[float, dict[str, float]]:
    """(seconds to the first row, split) of one fresh process."""
    spawn = time.time()
    proc = subprocess.run(
        [python, str(CHILD), "--warehouse", url, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        env=_env(compiled),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"el_fixed_child.py failed:\n{proc.stderr[-3000:]}")
    m: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    total = m["first_row"] - spawn
    split = {
        "interpreter": m["interpreter"] - spawn,
        "imports": m["import_el_dlt"] - m["interpreter"],
        "step": m["step_built"] - m["import_el_dlt"],
        "preflight": m["pipeline_start"] - m["run_start"],
        "pipeline": m["pipeline_end"] - m["pipeline_start"],
        "sync": m["sync_end"] - m["sync_start"],
        "source": m["source_end"] - m["source_start"],
    }
    if "refresh_end" in m:  # the refresh check, without the sync it includes
        split["refresh"] = m["refresh_end"] - m["refresh_start"] - split["sync"]
    # the rest: extract's start-up to the first row
    split["other"] = total - sum(split.values())
    split["cpu"] = m["cpu_first_row"]
    return total, split


def measure(url: str, workdir: Path, repeat: int, python: str = sys.executable) -> dict[str, Any]:
    one_process(url, workdir, python)  # the first load (tables and state), and the .pyc files
    one_process(url, workdir, python)
    totals: list[float] = []
    splits: list[dict[str, float]] = []
    for _ in range(repeat):
        total, split = one_process(url, workdir, python)
        totals.append(total)
        splits.append(split)
    uncompiled = [one_process(url, workdir, python, compiled=False)[0] for _ in range(repeat)]
    med = sorted(totals)[len(totals) // 2]
    med_uncompiled = sorted(uncompiled)[len(uncompiled) // 2]
    cpu = sorted(s["cpu"] for s in splits)[len(splits) // 2]
    return {
        "el_process_fixed_vs_uncompiled": round(med / med_uncompiled, 3),
        "el_process_fixed_cpu_s": round(cpu, 3),
        "el_process_fixed_s": round(med, 3),
        "el_process_fixed_s_samples": [round(t, 3) for t in totals],
        "el_process_fixed_uncompiled_s": round(med_uncompiled, 3),
        "el_process_fixed_uncompiled_s_samples": [round(t, 3) for t in uncompiled],
        "el_process_fixed_split": {
            k: round(sorted(s[k] for s in splits)[len(splits) // 2], 3)
            for k in (*PHASES, "refresh")
            if all(k in s for s in splits)
        },
    }


def main() -> None:
    """``python bench/fixed_cost.py URL [REPEAT [PYTHON]]``: against an existing database (PYTHON:
    another interpreter, e.g. an older checkout's venv, for a before/after)."""
    import tempfile

    url = sys.argv[1]
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    python = sys.argv[3] if len(sys.argv) > 3 else sys.executable
    workdir = Path(tempfile.mkdtemp(prefix="fixed-"))
    print(json.dumps(measure(url, workdir, repeat, python), indent=1))


if __name__ == "__main__":
    main()
