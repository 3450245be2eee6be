"""orch-dagster over the bench's own spec (el-dlt orders at full size + the 3-model dbt
project, Postgres) vs the same EL step and transform called directly: orchestrator overhead
when the data is large, beside the demo stack's small-data number."""

from __future__ import annotations

import sources
from harness import HERE, Bench, T, Unavailable, log, timed

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ()
#: part of a --quick run
QUICK = False


def run(b: Bench) -> None:
    try:
        from stacks_orch_dagster import DagsterOrchestrator
        from stacks_transform_dbt import DbtTransform
    except ImportError as exc:
        raise Unavailable(f"orch-dagster or transform-dbt is not importable ({exc})") from None
    from stacks_contract.models import RunRequest, RunStatus, StackSpec

    items = lambda lv: sources.arrow_items(lambda: b.tbl, lv)  # noqa: E731

    def spec() -> StackSpec:
        return StackSpec(
            name="bench",
            el_steps=(b.dlt_step(sources.orders(items)),),
            transform=DbtTransform(HERE / "dbt_project", state_dir=b.workdir()),
        )

    def via_dagster() -> T:
        wh = b.pg("dag1m")
        s, record = timed(lambda: DagsterOrchestrator().run(spec(), RunRequest(stack="bench"), wh))
        if record.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"bench spec under Dagster failed: {record.error}")
        b.srv.drop_database(wh.database)
        return s

    def direct() -> T:
        wh = b.pg("dir1m")
        sp = spec()
        req = RunRequest(stack="bench")

        def go() -> None:
            for step in sp.el_steps:
                step.run(req, wh)
            if not sp.transform.run(req, wh).ok:
                raise RuntimeError("direct dbt build failed")

        s, _ = timed(go)
        b.srv.drop_database(wh.database)
        return s

    cold_d, cold_x = via_dagster(), direct()
    ds, xs = [], []
    for _ in range(b.repeat_heavy):
        d, x = via_dagster(), direct()
        ds.append(d)
        xs.append(x)
        log(f"  bench spec: dagster {d:.2f}s  direct {x:.2f}s")
    b.record("t_dagster_1m_first_s", round(cold_d, 3))
    b.record("t_direct_1m_first_s", round(cold_x, 3))
    b.samples("t_dagster_1m_s", ds)
    b.samples("t_direct_1m_s", xs)
    b.ratio("dagster_1m_vs_direct", ds, xs)
