"""The worker's build id: the code version of the stack it serves.

Temporal records, for every workflow task, the build id of the worker that completed it (the Web
UI shows it; ``temporal workflow describe`` too), and Worker Deployments route by it. A fixed id
would make every deployment look the same; this one changes whenever the code that decides a
run changes: the stack's distribution version, this package's version and the workflow
definitions' source (a workflow edit that could break the replay of an open run).
"""

from __future__ import annotations

import hashlib
import inspect
from functools import cache
from importlib.metadata import PackageNotFoundError, entry_points, version

__all__ = ["code_version"]

#: the entry-point group stacks are installed under (see stacks_core.registry)
STACKS_GROUP = "stacks.stacks"


def _stack_dist_version(stack: str) -> str:
    for ep in entry_points(group=STACKS_GROUP, name=stack):
        if ep.dist is not None:
            return f"{ep.dist.name}-{ep.dist.version}"
    return "not-installed"


def _own_version() -> str:
    try:
        return version("stacks-orch-temporal")
    except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
        return "0"


@cache
def _workflow_digest() -> str:
    from stacks_orch_temporal import triggers, workflow

    h = hashlib.sha256()
    for module in (workflow, triggers):
        h.update(inspect.getsource(module).encode())
    return h.hexdigest()[:10]


def code_version(stack: str) -> str:
    """``<stack dist>-<version>+orch-temporal-<version>.<workflow digest>``, e.g.
    ``stacks-temporal-dlt-dbt-0.2.0+orch-temporal-0.2.0.1a2b3c4d5e`` (a stack that is not
    installed, such as a test's: ``not-installed+...``)."""
    return f"{_stack_dist_version(stack)}+orch-temporal-{_own_version()}.{_workflow_digest()}"
