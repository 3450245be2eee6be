"""The demo shop at ``--shop-orders`` loaded through el-airbyte's local engine (the shop's
declarative manifest run by airbyte-cdk, Airbyte's destination layout, deduped on ``id``) vs
through el-dlt's shop step: each repeat a fresh DuckDB file per tool, alternating; the
engine's start is outside the timed part, its HTTP polling inside."""

from __future__ import annotations

from typing import Any

from harness import Bench, T, Unavailable, big_shop, log, timed

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("airbyte_local_vs_dlt",)
#: part of a --quick run
QUICK = True


def run(b: Bench) -> None:
    try:
        from stacks_airflow_airbyte_dbt.stack import STREAMS, shop_connection
        from stacks_el_airbyte import AirbyteStep
        from stacks_el_airbyte.local.server import LocalEngine
        from stacks_el_dlt.sources.demo_shop import ShopStep
    except ImportError as exc:
        raise Unavailable(f"stacks-el-airbyte or the airbyte stack is missing ({exc})") from None
    from stacks_contract.models import RunRequest

    def via_airbyte(wh: Any, url: str) -> tuple[T, int]:
        with LocalEngine([shop_connection(wh, url)]) as engine:
            conn = shop_connection(wh, url).connection_id
            step = AirbyteStep("shop", conn, STREAMS, env=engine.env(), poll_interval_s=0.1)
            s, result = timed(lambda: step.run(RunRequest(stack="bench"), wh))
        return s, result.total_rows

    def via_dlt(wh: Any) -> tuple[T, int]:
        s, result = timed(lambda: ShopStep().run(RunRequest(stack="bench"), wh))
        return s, result.total_rows

    with big_shop(b) as shop:
        abs_, dls = [], []
        for i in range(b.repeat_heavy + 1):  # the first pair warms imports and is dropped
            a, a_rows = via_airbyte(b.duck("airbyte"), shop.url)
            d, d_rows = via_dlt(b.duck("dlt"))
            if a_rows != d_rows:
                raise RuntimeError(f"airbyte wrote {a_rows} rows, el-dlt {d_rows}")
            log(f"  shop: airbyte {a:.2f}s  dlt {d:.2f}s ({a_rows} rows)")
            if i:
                abs_.append(a)
                dls.append(d)
    b.record("airbyte_rows", a_rows)
    b.samples("t_airbyte_local_shop_s", abs_)
    b.samples("t_dlt_shop_s", dls)
    b.ratio("airbyte_local_vs_dlt", abs_, dls)
