"""The peers' results as keys: raw times per tool and phase, and every ratio ``peer time /
stacks time`` (per repeat, then the median), against the CLI (``uv run stacks run``) and, with
an ``_api`` suffix, against the Python API in a fresh process."""

from __future__ import annotations

from harness import Bench

from peers import series, tools


def prefix(workload: str) -> str:
    return {"pg": "el_sql", "duckdb": "el_sql_duckdb", "schema": "el_sql_schema"}[workload]


def key(workload: str, phase: str, tool: str, base: str = "stacks") -> str:
    """``el_sql_full_vs_sling``, ``el_sql_duckdb_incr_vs_copy``, ``el_sql_schema_vs_sling``;
    against the Python API: the same with ``_api``."""
    middle = "" if workload == "schema" else f"_{phase}"
    suffix = "" if base == "stacks" else "_api"
    return f"{prefix(workload)}{middle}_vs_{tool}{suffix}"


def record(b: Bench, workload: str, rows: int, res: dict[str, series.Outcome]) -> None:
    b.record(f"peers_{workload}_rows", rows)
    b.record("peer_versions", tools.versions())
    for tool, outcome in res.items():
        if outcome.problem:
            b.record(f"peer_{workload}_{tool}_problem", outcome.problem)
        for phase, ts in outcome.times.items():
            b.samples(f"t_peer_{workload}_{tool}_{phase}_s", ts)
    phases = ("full",) if workload == "schema" else series.PHASES_KEYED
    for base in [b for b in ("stacks", "stacks_api") if b in res]:
        for tool in res:
            if tool in ("stacks", "stacks_api"):
                continue
            for phase in phases:
                k = key(workload, phase, tool, base)
                why = res[base].problem or res[tool].problem
                if why:
                    who = base if res[base].problem else tool
                    b.record(k + "_unavailable", f"{who}: {why}")
                    continue
                nums, dens = res[tool].times.get(phase, []), res[base].times.get(phase, [])
                if nums and len(nums) == len(dens):
                    b.ratio(k, nums, dens)
