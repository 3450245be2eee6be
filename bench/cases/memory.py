"""Peak RSS of an el-dlt load (Arrow, streamed, merge + cursor) in its own process."""

from __future__ import annotations

import json
import subprocess
import sys

from harness import HERE, Bench, Unavailable, log

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("peak_rss_mb_1m", "peak_rss_growth_1m_to_5m")
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    try:
        import stacks_el_dlt  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"stacks_el_dlt is not importable ({exc})") from None
    small, big = b.args.rss_rows
    peaks = {}
    for rows in (small, big):
        wh = b.pg("rss")
        proc = subprocess.run(
            [
                sys.executable,
                str(HERE / "el_child.py"),
                "--rows",
                str(rows),
                "--warehouse",
                wh.url(),
                "--workdir",
                str(b.workdir()),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"EL child failed: {proc.stderr[-2000:]}")
        rep = json.loads(proc.stdout.strip().splitlines()[-1])
        if rep["rows"] != rows:
            raise RuntimeError(f"EL child loaded {rep['rows']} rows, expected {rows}")
        # VmHWM of the EL process (see el_child.py for why not ru_maxrss)
        peak = rep["maxrss_self_kb"] / 1024
        peaks[rows] = peak
        b.record(f"rss_child_{rows}", rep)
        b.srv.drop_database(wh.database)
        log(f"  memory: {rows} rows peak {peak:.0f} MB in {rep['seconds']:.1f}s")
    b.record("rss_mb_after_imports", round(rep["maxrss_before_load_kb"] / 1024, 1))
    b.record("peak_rss_mb_1m", round(peaks[small], 1))
    b.record("peak_rss_mb_5m", round(peaks[big], 1))
    b.record("peak_rss_growth_1m_to_5m", round(peaks[big] / peaks[small], 3))
    b.record("rss_rows", [small, big])
