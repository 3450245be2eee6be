"""Where an el-dlt load spends its time: py-spy over bench/el_child.py, all threads, summarised.

    uv run python bench/profile_el.py [--rows 1000000] [--source arrow|dicts]

Needs py-spy (not a project dependency; fetched on demand with ``uvx --from py-spy``). Samples
every thread (dlt loads in worker threads, which cProfile does not see), then attributes each
sample to the dlt stage on its stack (extract / normalize / load / other) and lists the
functions with the most own time. Writes bench/results/profile_<source>.txt.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

STAGES = (
    ("load", ("dlt/load/", "_adbc_jobs.py", "Pipeline.load (")),
    ("normalize", ("dlt/normalize/", "Pipeline.normalize (")),
    ("extract", ("dlt/extract/", "Pipeline.extract (")),
)
_WAITING = (
    "thread.py:81)",
    "execute_query (",
    "acquire",
    "wait (",
    "select (",
    "poll (",
    "sleep",
    "recv",
    "read (",
    "_wait_for_tstate",
)


def stage_of(frames: list[str]) -> str:
    """The innermost dlt stage on the stack; imports count apart (a one-off cost per process)."""
    if any("importlib._bootstrap" in f for f in frames):
        return "imports"
    for f in reversed(frames):
        for name, marks in STAGES:
            if any(m in f for m in marks):
                return name
    return "other (setup, config, state)"


def summarise(raw: Path, top: int = 30) -> str:
    cells: collections.Counter[tuple[str, str]] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if not f.startswith("thread (")]
        if not frames:
            continue
        leaf = frames[-1]
        waiting = any(w in leaf for w in _WAITING)
        stage = stage_of(frames)
        if waiting and stage.startswith("other"):
            continue  # idle pool threads
        total += count
        cells[(stage, "waiting" if waiting else "busy")] += count
        if not waiting:
            own[leaf] += count
    out = [
        f"samples: {total} (every thread; 'waiting' = blocked on a lock, on I/O or on a SQL",
        "statement the server runs, e.g. dlt's merge; idle pool threads left out)",
        "",
        f"  {'stage':32s} {'busy':>7s} {'waiting':>8s}  share",
    ]
    stages = sorted(
        {s for s, _ in cells}, key=lambda s: -(cells[(s, "busy")] + cells[(s, "waiting")])
    )
    for st in stages:
        b_, w_ = cells[(st, "busy")], cells[(st, "waiting")]
        out.append(f"  {st:32s} {b_:7d} {w_:8d}  {100 * (b_ + w_) / max(total, 1):5.1f}%")
    busy = sum(own.values())
    out += ["", f"top {top} functions by own busy samples:"]
    for name, c in own.most_common(top):
        out.append(f"  {100 * c / max(busy, 1):5.1f}%  {name}")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--source", choices=["arrow", "dicts"], default="arrow")
    ap.add_argument("--rate", type=int, default=50)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from stacks_testing.postgres import postgres_server

    uvx = shutil.which("uvx")
    if not uvx:
        sys.exit("uvx not found: install uv, or py-spy itself")
    tmp = Path(tempfile.mkdtemp(prefix="bench-prof-"))
    raw = tmp / "raw.txt"
    with postgres_server() as srv:
        wh = srv.create_database("prof")
        cmd = [
            uvx, "--from", "py-spy", "py-spy", "record", "--format", "raw", "--threads", "--idle",
            "-r", str(args.rate), "-o", str(raw), "--", sys.executable, str(HERE / "el_child.py"),
            "--rows", str(args.rows), "--warehouse", wh.url(), "--workdir", str(tmp / "dlt"),
            "--source", args.source,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if proc.returncode != 0:
            sys.exit(f"py-spy failed: {proc.stderr[-3000:]}")
        child = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), "?")
    text = f"el-dlt full load, {args.source} source, {args.rows} rows: {child}\n\n"
    text += summarise(raw)
    dest = HERE / "results" / f"profile_{args.source}.txt"
    dest.write_text(text)
    print(text)
    print(f"written to {dest}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
