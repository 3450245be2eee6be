"""The stacks benchmark: every layer against its physical reference, side by side, in one run.

    uv run python bench/run.py            # full: 1M rows (5M for memory), median of 3
    uv run python bench/run.py --quick    # 200k rows, median of 2, under 3 minutes

Starts its own throwaway Postgres (the repo's fixture code), generates the orders-like data once
(bench/data.py) and runs the cases (bench/cases/, one module each) in order, each in a fresh
database / file, each repeat paired with a fresh measurement of its reference, so every ratio
compares numbers taken seconds apart in this run. Writes bench/results/latest.{json,md}
(``--quick``: quick.{json,md}; ``--only``/``--skip``: partial.{json,md}). A case whose package
has not landed (or fails) is reported as "unavailable: <why>", never faked. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
import traceback
from datetime import UTC, datetime

import cases
import data
import harness  # sets the tools' telemetry-off defaults before any tool is imported
import refs
import sources
from harness import Bench, Unavailable, log, timed, wh_conn
from report import machine_info, write_reports


def warm_up(b: Bench) -> None:
    """One tiny el-dlt load per engine and source kind, so no case pays for first imports."""
    try:
        import stacks_el_dlt  # noqa: F401
    except ImportError:
        return
    small = data.table(1000)
    pages = list(data.dict_pages(small))
    for items in (
        lambda lv: sources.arrow_items(lambda: small, lv),
        lambda lv: sources.dict_items(lambda: small, lambda: pages, lv),
    ):
        for wh in (b.pg("warm"), b.duck("warm")):
            with contextlib.suppress(Exception):
                b.run_step(b.dlt_step(sources.orders(items)), wh)
    log("warmed up el-dlt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="200k rows, 2 repeats (1 for dbt/Dagster), no dagster_1m/el_pg_append: < 3 minutes",
    )
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated case names: " + ",".join(cases.ORDER) + " ('profile' only if named)",
    )
    ap.add_argument("--skip", default="", help="comma-separated case names to leave out")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="with --only: also merge the measured cases into latest.{json,md} (provenance kept)",
    )
    ap.add_argument("--dagster-warehouse", choices=["duckdb", "postgres"], default="duckdb")
    ap.add_argument(
        "--shop-orders",
        type=int,
        default=None,
        help="orders in the demo shop of the airflow and airbyte cases (100k; 5k with --quick)",
    )
    args = ap.parse_args()
    args.rows = args.rows or (200_000 if args.quick else 1_000_000)
    args.repeat = args.repeat or (2 if args.quick else 3)
    args.rss_rows = (args.rows, 5 * args.rows)
    args.shop_orders = args.shop_orders or (5_000 if args.quick else 100_000)
    only = [c for c in args.only.split(",") if c] or [
        c
        for c in cases.ORDER
        if not getattr(cases.load(c), "NAMED_ONLY", False)
        and (cases.load(c).QUICK or not args.quick)
    ]
    unknown = [c for c in only if c not in cases.ORDER]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(cases.ORDER)}")
    only = [c for c in only if c not in args.skip.split(",")]

    from stacks_testing.postgres import postgres_server

    b = Bench(args)
    t_start = time.perf_counter()
    b.out.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        rows=args.rows,
        repeat=args.repeat,
        quick=args.quick,
        loadavg_start=[round(x, 2) for x in os.getloadavg()],
    )
    log(f"generating {args.rows} rows")
    b.tbl = data.table(args.rows)
    try:
        with postgres_server() as srv:
            b.srv = srv
            b.out["machine"] = machine_info(b)
            log("encoding the COPY reference payload")
            b.copy_payload = refs.copy_bytes(b.pg("enc").url(), b.tbl)
            harness.METER.attach_postgres(srv.admin.url())
            if srv.backend == "local":
                # our own throwaway cluster: no autovacuum, so a worker analysing the last
                # case's tables never runs (and bills its CPU) inside the next measurement
                with wh_conn(srv.admin) as conn:
                    conn.execute("alter system set autovacuum = off")
                    conn.execute("select pg_reload_conf()")
                b.out["postgres_autovacuum"] = "off (bench's own cluster)"
            # whole-process cases (dbt command, stacks run) run without it: see user_env()
            b.out["env_pythondontwritebytecode"] = os.environ.get("PYTHONDONTWRITEBYTECODE")
            warm_up(b)
            for name in only:
                log(f"case {name}")
                la = os.getloadavg()[0]
                try:
                    s, _ = timed(lambda name=name: cases.load(name).run(b))
                    b.out[f"case_{name}_s"] = round(s, 1)
                except Unavailable as exc:
                    log(f"  unavailable: {exc}")
                    for k in cases.load(name).KEYS:
                        b.out[k + "_unavailable"] = str(exc)
                except Exception as exc:
                    traceback.print_exc()
                    msg = f"case failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                    log(f"  {msg}")
                    for k in cases.load(name).KEYS:
                        b.out[k + "_unavailable"] = msg
                b.out[f"case_{name}_loadavg"] = [round(la, 2), round(os.getloadavg()[0], 2)]
    finally:
        b.out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        b.out["seconds_total"] = round(time.perf_counter() - t_start, 1)
        if b.out["loadavg_start"][0] > 1.5 or b.out["loadavg_end"][0] > 1.5:
            b.notes.append(
                "The machine was shared with other work during this run (load average above); "
                "absolute seconds are noisy, the paired ratios less so."
            )
        b.out.setdefault("machine", {})
        write_reports(b)
        shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
