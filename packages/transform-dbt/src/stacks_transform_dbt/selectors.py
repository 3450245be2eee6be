"""dbt's own selector syntax (``state:modified+``, ``path:``, ``config.materialized:``,
wildcards, ``@``, intersections) resolved by ``dbt ls`` against the parsed manifest."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stacks_contract.errors import ConfigError, StacksError

from stacks_transform_dbt.invocation import DbtInvocation, invoke

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest


def dbt_ls(
    inv: DbtInvocation,
    manifest: Manifest,
    vars: Mapping[str, Any],
    selector: str,
    *,
    fail: Callable[[BaseException], StacksError],
) -> tuple[str, ...]:
    """The names of the models, seeds and snapshots ``selector`` selects, sorted."""
    extra = ["--select", selector, "--output", "json", "--output-keys", "name"]
    for kind in ("model", "seed", "snapshot"):
        extra += ["--resource-type", kind]
    res = invoke(inv, "ls", vars, extra, manifest=manifest)
    if not res.success or res.result is None:
        exc = res.exception or RuntimeError(f"dbt ls --select {selector} failed")
        text = " ".join(str(exc).split())
        if "comparison manifest" in text or "--state" in text:
            raise ConfigError(
                f"The selector {selector!r} compares with an earlier run's artifacts: pass "
                "--state DIR (a folder holding that run's manifest.json)."
            )
        raise fail(exc)
    names = set()
    for line in res.result:
        try:
            names.add(str(json.loads(line)["name"]))
        except (ValueError, KeyError, TypeError):
            continue
    return tuple(sorted(names))
