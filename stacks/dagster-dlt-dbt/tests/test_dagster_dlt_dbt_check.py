"""`stacks check --advance` catches an incremental model that drops late changes: the shop's old
``fct_orders`` (a watermark on the order's own ``updated_at``, so a payment refunded later never
reaches ``paid_amount``) passes every run and the idempotence proof, and fails the full rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV

BIN = Path(sys.executable).parent
OLD_MODEL_STACK = Path(__file__).parent / "old_model_stack.py"


@pytest.mark.slow
def test_check_advance_fails_the_old_fct_orders(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (SHOP_URL_ENV, "STACKS_WAREHOUSE")}
    env["OLD_SHOP_PROJECT"] = str(tmp_path)
    check = subprocess.run(
        [str(BIN / "stacks"), "check", f"{OLD_MODEL_STACK}:stack", "--runs", "2", "--advance", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert check.returncode == 1, (check.stdout + check.stderr)[-3000:]
    lines = [line.strip() for line in check.stdout.splitlines()]
    assert "proved     idempotent: identical after 1 and 2 runs" in lines
    assert any(x.startswith("proved     re-delivery: 4 raw table(s)") for x in lines), lines
    assert (
        "FAILED     full rebuild: incremental != a rebuild from scratch: 2 model table(s) differ"
    ) in lines
    assert "analytics.fct_orders: same 260 rows, different content" in lines
    # a refunded payment: the warehouse still counts it as paid, the rebuild does not
    stale = next(
        x for x in lines if x.startswith("- only in the warehouse: ") and "order_id=158" in x
    )
    fresh = next(
        x for x in lines if x.startswith("+ only in the rebuild: ") and "order_id=158" in x
    )
    assert "paid_amount=114.08" in stale and "paid_amount=0.00" in fresh
    assert "analytics.daily_revenue: same 33 rows, different content" in lines
