"""Plain dlt 1.31 (no el-dlt) on the bench data: which loader settings are fast, where time goes.

    uv run python bench/explore_dlt.py [--rows 1000000] [--only NAME,...] [--profile NAME]

Prints one line per variant (seconds, rows/s, ratio to raw binary COPY measured in the same run).
The findings are summarised in bench/README.md ("Choosing el-dlt's fast path").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import data
import refs

for k, v in {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}.items():
    os.environ.setdefault(k, v)


@contextlib.contextmanager
def env(**kw: str):
    old = {k: os.environ.get(k) for k in kw}
    os.environ.update(kw)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_dlt(
    dest,
    items,
    *,
    fmt=None,
    disposition="append",
    pk=None,
    arrow_pages=False,
    envs=None,
    name="orders",
    dataset="raw",
    pipelines_dir=None,
    timings=None,
    hints=None,
    reload=False,
):
    import dlt

    def source():
        @dlt.resource(name=name, write_disposition=disposition, primary_key=pk)
        def orders():
            if arrow_pages:
                import pyarrow as pa

                # a dict source turned into Arrow per page (10 pages of 1000 = 10k rows)
                buf = []
                for page in items():
                    buf.extend(page)
                    if len(buf) >= 10_000:
                        yield pa.Table.from_pylist(buf, schema=data.SCHEMA)
                        buf = []
                if buf:
                    yield pa.Table.from_pylist(buf, schema=data.SCHEMA)
            else:
                yield from items()

        if hints:
            orders.apply_hints(additional_table_hints=hints)
        return orders

    if reload:  # load once untimed, then time a second load of the same rows (merge re-load)
        run_dlt(
            dest,
            items,
            fmt=fmt,
            disposition=disposition,
            pk=pk,
            arrow_pages=arrow_pages,
            envs=envs,
            name=name,
            dataset=dataset,
            pipelines_dir=pipelines_dir,
            hints=hints,
        )
    with env(**(envs or {})):
        p = dlt.pipeline(
            pipeline_name=f"x{time.monotonic_ns()}",
            destination=dest,
            dataset_name=dataset,
            pipelines_dir=pipelines_dir,
        )
        t0 = time.perf_counter()
        p.extract(source(), loader_file_format=fmt)
        t1 = time.perf_counter()
        p.normalize()
        t2 = time.perf_counter()
        info = p.load()
        t3 = time.perf_counter()
    if timings is not None:
        timings.update(extract=t1 - t0, normalize=t2 - t1, load=t3 - t2)
    assert not info.has_failed_jobs, info
    return t3 - t0


VARIANTS = {
    # name: (source kind, destination kind, kwargs)
    "pg_arrow_default": ("arrow", "pg", {}),
    "pg_arrow_csv": ("arrow", "pg", {"fmt": "csv"}),
    "pg_arrow_csv_nocompress": (
        "arrow",
        "pg",
        {"fmt": "csv", "envs": {"DATA_WRITER__DISABLE_COMPRESSION": "true"}},
    ),
    "pg_arrow_parquet_adbc": ("arrow", "pg", {"fmt": "parquet"}),
    "pg_arrow_parquet_adbc_nocompress": (
        "arrow",
        "pg",
        {"fmt": "parquet", "envs": {"DATA_WRITER__COMPRESSION": "none"}},
    ),
    "pg_arrow_parquet_adbc_rot200k_w2": (
        "arrow",
        "pg",
        {
            "fmt": "parquet",
            "envs": {
                "DATA_WRITER__COMPRESSION": "none",
                "DATA_WRITER__FILE_MAX_ITEMS": "200000",
                "LOAD__WORKERS": "2",
                "NORMALIZE__WORKERS": "2",
            },
        },
    ),
    "pg_arrow_merge_parquet": (
        "arrow",
        "pg",
        {
            "fmt": "parquet",
            "disposition": "merge",
            "pk": "id",
            "envs": {"DATA_WRITER__COMPRESSION": "none"},
        },
    ),
    "pg_arrow_merge_skip_dedup": (
        "arrow",
        "pg",
        {
            "fmt": "parquet",
            "disposition": "merge",
            "pk": "id",
            "hints": {"x-stage-data-deduplicated": True},
        },
    ),
    "pg_arrow_merge_upsert": (
        "arrow",
        "pg",
        {
            "fmt": "parquet",
            "pk": "id",
            "disposition": {"disposition": "merge", "strategy": "upsert"},
        },
    ),
    "pg_arrow_merge_reload": (
        "arrow",
        "pg",
        {"fmt": "parquet", "disposition": "merge", "pk": "id", "reload": True},
    ),
    "pg_arrow_merge_skip_dedup_reload": (
        "arrow",
        "pg",
        {
            "fmt": "parquet",
            "disposition": "merge",
            "pk": "id",
            "reload": True,
            "hints": {"x-stage-data-deduplicated": True},
        },
    ),
    "pg_arrow_merge_upsert_reload": (
        "arrow",
        "pg",
        {
            "fmt": "parquet",
            "pk": "id",
            "reload": True,
            "disposition": {"disposition": "merge", "strategy": "upsert"},
        },
    ),
    "pg_dicts_default": ("dicts", "pg", {}),
    "pg_dicts_csv_nocompress": (
        "dicts",
        "pg",
        {"fmt": "csv", "envs": {"DATA_WRITER__DISABLE_COMPRESSION": "true"}},
    ),
    "pg_dicts_parquet_adbc": (
        "dicts",
        "pg",
        {"fmt": "parquet", "envs": {"DATA_WRITER__COMPRESSION": "none"}},
    ),
    "pg_dicts_as_arrow_parquet_adbc": (
        "dicts",
        "pg",
        {"fmt": "parquet", "arrow_pages": True, "envs": {"DATA_WRITER__COMPRESSION": "none"}},
    ),
    "pg_dicts_as_arrow_csv": (
        "dicts",
        "pg",
        {"fmt": "csv", "arrow_pages": True, "envs": {"DATA_WRITER__DISABLE_COMPRESSION": "true"}},
    ),
    "duck_arrow_default": ("arrow", "duck", {}),
    "duck_arrow_parquet_nocompress": (
        "arrow",
        "duck",
        {"fmt": "parquet", "envs": {"DATA_WRITER__COMPRESSION": "none"}},
    ),
    "duck_dicts_default": ("dicts", "duck", {}),
    "duck_dicts_as_arrow": ("dicts", "duck", {"arrow_pages": True}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--profile", default="", help="cProfile this variant; print the top functions")
    args = ap.parse_args()

    import dlt
    from stacks_testing.postgres import postgres_server

    tbl = data.table(args.rows)
    pages = list(data.dict_pages(tbl))
    tmp = Path(tempfile.mkdtemp(prefix="bench-explore-"))
    only = [s for s in args.only.split(",") if s] or list(VARIANTS)
    if args.profile:
        only = [args.profile]
    with postgres_server() as srv:
        wh = srv.create_database("x")
        url = wh.url()
        payload = refs.copy_bytes(url, tbl)
        copy_s = statistics.median(
            refs.pg_copy_binary(url, "raw", payload, False) for _ in range(3)
        )
        duck_s = statistics.median(refs.duckdb_native(tmp / "n.duckdb", tbl) for _ in range(3))
        print(f"{'ref_pg_copy_binary_nopk':40s} {copy_s:7.2f}s {args.rows / copy_s:10.0f} rows/s")
        print(f"{'ref_duckdb_native_arrow':40s} {duck_s:7.2f}s {args.rows / duck_s:10.0f} rows/s")
        # warm up imports and first-connection costs so the first variant is not penalised
        small = data.table(1000)
        for fmt in ("parquet", None):
            run_dlt(
                dlt.destinations.postgres(credentials=srv.create_database("w").url()),
                lambda: iter([small]),
                fmt=fmt,
                pipelines_dir=str(tmp / "p"),
            )
        run_dlt(
            dlt.destinations.duckdb(credentials=str(tmp / "w.duckdb")),
            lambda: iter([small]),
            pipelines_dir=str(tmp / "p"),
        )
        for name in only:
            kind, dest_kind, kw = VARIANTS[name]
            items = (lambda: iter([tbl])) if kind == "arrow" else (lambda: iter(pages))
            times, parts = [], {}
            for r in range(args.repeat):
                if dest_kind == "pg":
                    dbwh = srv.create_database("x")
                    dest = dlt.destinations.postgres(credentials=dbwh.url())
                else:
                    dest = dlt.destinations.duckdb(credentials=str(tmp / f"{name}{r}.duckdb"))

                def call(dest=dest, items=items, parts=parts, kw=kw):
                    return run_dlt(dest, items, pipelines_dir=str(tmp / "p"), timings=parts, **kw)

                if args.profile:
                    import cProfile
                    import pstats

                    prof = cProfile.Profile()
                    prof.enable()
                    times.append(call())
                    prof.disable()
                    pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
                    pstats.Stats(prof).sort_stats("tottime").print_stats(25)
                else:
                    times.append(call())
            s = statistics.median(times)
            ref = copy_s if dest_kind == "pg" else duck_s
            split = " ".join(f"{k}={v:.2f}" for k, v in parts.items())
            print(
                f"{name:40s} {s:7.2f}s {args.rows / s:10.0f} rows/s"
                f"  x{ref / s:5.2f} of ref  ({split})",
                flush=True,
            )


if __name__ == "__main__":
    main()
