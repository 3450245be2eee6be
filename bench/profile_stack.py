"""Where a no-op `stacks run dagster-dlt-dbt` process spends its time (issue 18, item 3).

    uv run python bench/profile_stack.py        # -> results/profile_stack.txt

Serves the demo shop, runs the stack once into a fresh DuckDB file (untimed), then the second
run three ways as whole processes: plain (wall), `python -X importtime` (the slowest top-level
imports, cumulative) and `python -m cProfile` (the top of the main thread by cumulative time).
Python's bytecode cache is on (PYTHONDONTWRITEBYTECODE removed), as in a user's shell.
"""

from __future__ import annotations

import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = ["-m", "stacks_cli.main", "run", "dagster-dlt-dbt"]


def main() -> None:
    from stacks_demo.shop import ShopServer
    from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV

    tmp = Path(tempfile.mkdtemp(prefix="stacks-profile-stack-"))
    out = io.StringIO()
    with ShopServer(seed=42) as shop:
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "STACKS_WAREHOUSE": str(tmp / "shop.duckdb"),
            SHOP_URL_ENV: shop.url,
            "DO_NOT_TRACK": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }

        def run(*pre: str) -> subprocess.CompletedProcess[str]:
            t0 = time.perf_counter()
            p = subprocess.run(
                [sys.executable, *pre, *CLI], env=env, cwd=tmp, capture_output=True, text=True
            )
            if p.returncode != 0:
                raise SystemExit(f"stacks run failed: {p.stdout[-2000:]}{p.stderr[-2000:]}")
            out.write(f"{' '.join(pre) or 'plain'}: {time.perf_counter() - t0:.2f}s\n")
            return p

        run()  # first run: loads the shop
        run()
        imp = run("-X", "importtime")
        prof = tmp / "run.prof"
        run("-m", "cProfile", "-o", str(prof))
    rows = []
    for line in imp.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = line[len("import time:") :].split("|")
            if cum.strip().isdigit():
                rows.append((int(cum), name[1:]))
    top = [r for r in rows if not r[1].startswith(" ")]  # top-level imports only
    out.write(
        f"\n===== -X importtime: top-level imports, total {sum(c for c, _ in top) / 1e6:.2f}s\n"
    )
    for cum, name in sorted(top, reverse=True)[:25]:
        out.write(f"{cum / 1e6:8.3f}s  {name}\n")
    out.write("\n===== cProfile of the second run (main thread), cumulative =====\n")
    pstats.Stats(str(prof), stream=out).sort_stats("cumulative").print_stats(60)
    path = HERE / "results" / "profile_stack.txt"
    path.write_text(out.getvalue())
    print(out.getvalue()[:3000])


if __name__ == "__main__":
    main()
