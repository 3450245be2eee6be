"""cProfile el-dlt full loads (Arrow, dicts, DuckDB), a no-op run, and the shipped stack
under Dagster vs called directly; keep the top of each profile."""

from __future__ import annotations

import time
from typing import Any

import data
import sources
from harness import HERE, Bench, log, trace_split

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ()
#: part of a --quick run
QUICK = True
#: only when named (--only profile)
NAMED_ONLY = True


def run(b: Bench) -> None:
    import cProfile
    import io
    import pstats

    if b.pages is None:
        b.pages = list(data.dict_pages(b.tbl))
    out = io.StringIO()

    def profiled(title: str, step: Any, wh: Any, rows: int | None, tottime: bool = False) -> None:
        prof = cProfile.Profile()
        prof.enable()
        s, _ = b.run_step(step, wh, rows)
        prof.disable()
        out.write(f"===== {title}, {s:.3f}s wall =====\n")
        out.write(f"dlt trace split: {trace_split(step, wh)}\n")
        st = pstats.Stats(prof, stream=out)
        st.sort_stats("cumulative").print_stats(40)
        if tottime:
            st.sort_stats("tottime").print_stats(25)

    for label, items in (
        ("arrow", lambda lv: sources.arrow_items(lambda: b.tbl, lv)),
        ("dicts", lambda lv: sources.dict_items(lambda: b.tbl, lambda: b.pages, lv)),
    ):
        step = b.dlt_step(sources.orders(items))
        wh = b.pg("prof")
        profiled(f"el-dlt full load, {label} source, {b.rows} rows", step, wh, b.rows, True)
        if label == "arrow":
            # what an incremental run with nothing new spends its time on (all fixed cost)
            profiled("el-dlt no-op run (cursor pushed down)", step, wh, None)
        b.srv.drop_database(wh.database)
    # DuckDB: the same Arrow source, merge through dlt's staging dataset inside the file
    step = b.dlt_step(sources.orders(lambda lv: sources.arrow_items(lambda: b.tbl, lv)))
    title = f"el-dlt full load into DuckDB, arrow source, {b.rows} rows"
    profiled(title, step, b.duck("prof"), b.rows)
    _profile_dagster(b, out)
    path = HERE / "results" / ("profile_quick.txt" if b.args.quick else "profile.txt")
    path.write_text(out.getvalue())
    log(f"  profile written to {path.relative_to(HERE.parent)}")


def _profile_dagster(b: Bench, out: Any) -> None:
    """The shipped stack on a fresh DuckDB warehouse, under Dagster and called directly (each
    after one warm-up run): where the orchestrator's fixed overhead goes."""
    import cProfile
    import pstats

    try:
        from stacks_dagster_dlt_dbt import build_stack
    except ImportError as exc:
        out.write(f"===== dagster stack: unavailable ({exc}) =====\n")
        return
    from stacks_contract.models import RunRequest

    stack = build_stack()

    def via_dagster(wh: Any) -> None:
        stack.orchestrator().run(stack.spec(wh), RunRequest(stack=stack.name), wh)

    def direct(wh: Any) -> None:
        spec, req = stack.spec(wh), RunRequest(stack=stack.name)
        for step in spec.el_steps:
            step.run(req, wh)
        if spec.transform is not None:
            spec.transform.run(req, wh)

    for label, fn in (("under Dagster", via_dagster), ("called directly", direct)):
        with stack.session(wh := b.duck("prof-stack")):
            fn(wh)  # warm-up: imports, first parse of the dbt project
        with stack.session(wh := b.duck("prof-stack")):
            prof = cProfile.Profile()
            prof.enable()
            t0 = time.perf_counter()
            fn(wh)
            wall = time.perf_counter() - t0
            prof.disable()
        out.write(f"===== dagster-dlt-dbt stack, fresh warehouse, {label}, {wall:.2f}s =====\n")
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(45)
