"""The shipped dagster-dlt-dbt stack (its demo shop source) run by its orchestrator vs the
same spec's EL steps and transform called directly; each repeat in a fresh warehouse,
alternating, after one warm-up run of each (imports, dbt parse)."""

from __future__ import annotations

from typing import Any

from harness import Bench, T, Unavailable, direct_stack_run, log, timed

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("dagster_stack_vs_direct",)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    try:
        from stacks_dagster_dlt_dbt import build_stack
    except ImportError as exc:
        raise Unavailable(f"stacks_dagster_dlt_dbt.build_stack is not importable ({exc})") from None
    stack_vs_direct(b, build_stack(), "dagster")


def stack_vs_direct(b: Bench, stack: Any, label: str) -> None:
    """Fills ``{label}_stack_vs_direct`` (fresh warehouses) and ``{label}_stack_steady_vs_direct``
    (the same warehouse again, no new rows)."""
    from stacks_contract.models import RunRequest, RunStatus

    kind = b.args.dagster_warehouse

    def fresh() -> Any:
        return b.pg(label[:3]) if kind == "postgres" else b.duck(f"stack-{label}")

    def via_orchestrator(wh: Any) -> float:
        with stack.session(wh):
            spec = stack.spec(wh)
            req = RunRequest(stack=stack.name)
            s, record = timed(lambda: stack.orchestrator().run(spec, req, wh))
        if record.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"stack run under {label} failed: {record.error}")
        b.out[f"{label}_stack_rows"] = record.rows
        return s

    def direct(wh: Any) -> T:
        return direct_stack_run(stack, wh)

    cold_d = via_orchestrator(fresh())
    cold_x = direct(fresh())
    ds, xs = [], []
    for _ in range(b.repeat_heavy):
        d = via_orchestrator(fresh())
        x = direct(fresh())
        ds.append(d)
        xs.append(x)
        log(f"  stack: {label} {d:.2f}s  direct {x:.2f}s")
    b.record(f"{label}_warehouse", kind)
    b.record(f"t_{label}_stack_first_s", round(cold_d, 3))
    b.record(f"t_direct_stack_first_s{'' if label == 'dagster' else '_' + label}", round(cold_x, 3))
    b.samples(f"t_{label}_stack_s", ds)
    b.samples(f"t_direct_stack_s{'' if label == 'dagster' else '_' + label}", xs)
    b.ratio(f"{label}_stack_vs_direct", ds, xs)
    # steady state: the same warehouse again (the stack reuses its definitions and dbt's parse;
    # the source has no new rows), what a long-lived process running the stack on a schedule sees
    same = fresh()
    via_orchestrator(same)
    direct(same)
    sd, sx = [], []
    for _ in range(b.repeat_heavy):
        sd.append(via_orchestrator(same))
        sx.append(direct(same))
        log(f"  stack, same warehouse: {label} {sd[-1]:.2f}s  direct {sx[-1]:.2f}s")
    b.samples(f"t_{label}_stack_steady_s", sd)
    b.samples(f"t_direct_stack_steady_s{'' if label == 'dagster' else '_' + label}", sx)
    b.ratio(f"{label}_stack_steady_vs_direct", sd, sx)
