"""The results: ``results/<stem>.{json,md}`` from what the cases recorded, goals checked, and
``--merge`` of a partial run into the committed full run."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from goals import EXTRA_RATIOS, GOALS
from harness import HERE, Bench, log, wh_conn


def machine_info(b: Bench) -> dict[str, Any]:
    from importlib import metadata

    def ver(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "versions": {
            d: ver(d)
            for d in (
                "dlt",
                "dbt-core",
                "dbt-postgres",
                "dbt-duckdb",
                "dagster",
                "duckdb",
                "pyarrow",
                "psycopg",
                "adbc-driver-postgresql",
            )
        },
    }
    with contextlib.suppress(OSError):
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    with contextlib.suppress(Exception), wh_conn(b.srv.admin) as conn:
        info["postgres"] = conn.execute("show server_version").fetchone()[0]
    return info


def met(key: str, value: Any) -> str:
    op, goal, _ = GOALS[key]
    if not isinstance(value, int | float):
        return "-"
    ok = value >= goal if op == ">=" else value <= goal
    return "yes" if ok else "no"


#: keys that describe a run as a whole, not one case's measurements
RUN_KEYS = ("date", "rows", "repeat", "quick", "loadavg_start", "loadavg_end", "seconds_total")


def merge_into_latest(b: Bench, partial: dict[str, Any], res: Path) -> None:
    """``--merge``: the cases this partial run measured replace theirs in ``latest.json`` (every
    key they wrote, ratios, samples and raw medians alike); the other keys stay the full run's.
    ``merged_partial_runs`` says which cases came from which run, under what load."""
    latest = json.loads((res / "latest.json").read_text())
    cases = sorted(
        k[len("case_") : -len("_s")] for k in b.out if k.startswith("case_") and k.endswith("_s")
    )
    for key, value in b.out.items():
        if key not in RUN_KEYS and key != "machine":
            latest[key] = value
    for key in GOALS:
        if isinstance(latest.get(key), int | float):
            latest.pop(key + "_unavailable", None)
    history = latest.pop("merged_partial_run", None)
    runs = latest.get("merged_partial_runs") or ([history] if history else [])
    runs.append(
        {
            "date": partial["date"],
            "cases": cases,
            "loadavg": [partial.get("loadavg_start"), partial.get("loadavg_end")],
            "note": "keys of these cases come from this later partial run (bench/run.py --only "
            f"{','.join(cases)} --merge, same machine, median of {partial['repeat']}); every "
            "other key is the full run of 'date'",
        }
    )
    latest["merged_partial_runs"] = runs
    latest["goals_met"] = {k: met(k, latest.get(k)) for k in GOALS}
    (res / "latest.json").write_text(json.dumps(latest, indent=2, default=str) + "\n")
    notes = [
        f"Cases {', '.join(r['cases'])} were re-measured on {r['date']} (load average "
        f"{r.get('loadavg', 'n/a')}) and merged into this full run's results."
        for r in runs
    ]
    (res / "latest.md").write_text(render_md(latest, notes, quick=False))
    log(f"merged cases {', '.join(cases)} into {res / 'latest.json'} and latest.md")


def write_reports(b: Bench) -> None:
    out = b.out
    flat: dict[str, Any] = {}
    for key in GOALS:
        flat[key] = out.get(key)
    for key in GOALS:
        if flat[key] is None:
            flat[key + "_unavailable"] = out.get(key + "_unavailable", "not measured")
    flat.update({k: v for k, v in out.items() if k not in flat})
    flat["goals"] = {k: f"{op} {g}" for k, (op, g, _) in GOALS.items()}
    flat["goals_met"] = {k: met(k, flat[k]) for k in GOALS}
    # a run of some cases never overwrites the full run's committed results
    stem = "quick" if b.args.quick else "partial" if (b.args.only or b.args.skip) else "latest"
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    (res / f"{stem}.json").write_text(json.dumps(flat, indent=2, default=str) + "\n")
    if b.args.quick:
        small, big = b.args.rss_rows
        b.notes.append(
            f"Quick run: the memory keys are measured at {small:,} and {big:,} rows, not 1M and "
            "5M, and dbt/Dagster cases are single samples; the full run is what counts."
        )
    (res / f"{stem}.md").write_text(render_md(flat, b.notes, quick=b.args.quick))
    log(f"wrote {res / (stem + '.json')} and {stem}.md")
    if b.args.merge and stem == "partial":
        merge_into_latest(b, flat, res)


def render_md(flat: dict[str, Any], notes: list[str], *, quick: bool) -> str:
    lines = [
        f"# stacks benchmark ({'quick' if quick else 'full'} run)",
        "",
        f"{flat['date']} · {flat['rows']:,} rows · median of {flat['repeat']} · "
        f"{flat['machine'].get('cpus')} CPUs · load average {flat.get('loadavg_start')} -> "
        f"{flat.get('loadavg_end')} · {flat['seconds_total']:.0f} s total",
        "",
        "| key | value | goal | met? | same ratio on CPU seconds |",
        "|---|---|---|---|---|",
    ]
    for key, (op, goal, meaning) in GOALS.items():
        v = flat.get(key)
        why = flat.get(key + "_unavailable", "not measured")
        shown = f"{v:g}" if isinstance(v, int | float) else f"unavailable: {why}"
        cpu = flat.get(key + "_cpu")
        cpu_shown = f"{cpu:g}" if isinstance(cpu, int | float) else "-"
        lines.append(
            f"| `{key}` ({meaning}) | {shown} | {op} {goal:g} | {met(key, v)} | {cpu_shown} |"
        )
    lines += ["", "Other ratios measured in this run (no goal):", ""]
    lines += ["| key | value | on CPU seconds |", "|---|---|---|"]
    for key, meaning in EXTRA_RATIOS.items():
        v, cpu = flat.get(key), flat.get(key + "_cpu")
        if isinstance(v, int | float):
            c = f"{cpu:g}" if isinstance(cpu, int | float) else "-"
            lines.append(f"| `{key}` ({meaning}) | {v:g} | {c} |")
    lines += [
        "",
        "Raw medians (seconds unless named otherwise):",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for k, v in flat.items():
        if (
            k.startswith(("t_", "rows_per_s_", "peak_rss_mb_5m"))
            and not k.endswith("_samples")
            and isinstance(v, int | float)
        ):
            lines.append(f"| `{k}` | {v:g} |")
    lines += [
        "",
        f"COPY reference shape: {flat.get('copy_shape', 'n/a')}; binary COPY of pre-encoded rows "
        "(psycopg), table created in the timed section. DuckDB reference: "
        "`create table as select * from <arrow>` into a fresh file, closed.",
    ]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
