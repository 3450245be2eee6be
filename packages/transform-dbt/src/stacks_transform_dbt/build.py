"""One ``dbt build`` in-process: its flags, its progress and warnings as the reporter shows
them, its ``run_results.json``, and its outcome as the contract's result or error."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stacks_contract.errors import StacksError, StepFailed
from stacks_contract.models import NodeStatus, RunRequest, TransformResult
from stacks_contract.ports import Reporter
from stacks_contract.warehouse import Warehouse, redact

from stacks_transform_dbt import graph, retry
from stacks_transform_dbt.errors import DbtStepFailed
from stacks_transform_dbt.invocation import DbtInvocation, invoke
from stacks_transform_dbt.results import clean_message, translate

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

#: var carrying the run id (models stamp it into ``_stacks_run_id``; a retry is the same run)
RUN_ID_VAR = "stacks_run_id"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: "[WARNING][SomeDeprecation]: Deprecated functionality" before the sentence that matters
_PREFIX = re.compile(r"^\[\w+\]\[\w+\]:\s*(Deprecated functionality\s*)?")


def is_deprecation(msg: Any) -> bool:
    """A dbt event warning that something the project uses is going away (one per kind and
    invocation; dbt's end-of-command summary of them is not one)."""
    name = str(getattr(msg.info, "name", ""))
    return name.endswith("Deprecation") and str(getattr(msg.info, "level", "")) == "warn"


def event_text(msg: Any) -> str:
    text = _ANSI.sub("", str(getattr(msg.info, "msg", "")))
    return _PREFIX.sub("", clean_message(text) or "") or str(msg.info.name)


def build(
    inv: DbtInvocation,
    manifest: Manifest,
    request: RunRequest,
    warehouse: Warehouse,
    *,
    step: str,
    select: Sequence[str],
    report: Reporter,
    fail: Callable[[BaseException], StacksError],
    started_at: datetime,
    deprecations: Sequence[str] = (),
) -> TransformResult:
    """``dbt build`` of ``select`` (every node when empty) with ``manifest``; a failed model
    raises :class:`DbtStepFailed`, a failed or errored test gives a result that is not ok."""
    extra: list[str] = []
    if select:
        extra += ["--select", *select]
    if request.full_refresh:
        extra.append("--full-refresh")
    shown = set(deprecations)
    for text in deprecations:  # the parse's, once per run
        report(step, f"deprecation: {text}")

    def progress(msg: Any) -> None:
        with contextlib.suppress(Exception):
            if msg.info.name == "NodeFinished":
                ni = msg.data.node_info
                report(step, f"{ni.resource_type} {ni.node_name}: {ni.node_status}")
            elif is_deprecation(msg) and (text := event_text(msg)) not in shown:
                shown.add(text)
                report(step, f"deprecation: {text}")

    run_results = inv.target_path / "run_results.json"
    # this run tried again: `dbt retry` runs only what failed or was skipped (see .retry)
    previous = retry.previous_attempt(run_results, request, RUN_ID_VAR)
    if previous is None:
        # a stale file from an earlier run must never be read as this run's outcome
        run_results.unlink(missing_ok=True)
    else:
        report(step, "retrying the nodes that failed or were skipped (dbt retry)")
    # --no-write-json: dbt would re-serialise the whole manifest after every build (most of
    # a small run's time); run_results.json is written below from the in-memory result.
    res = invoke(
        inv,
        "build" if previous is None else "retry",
        inv.vars,
        [*(extra if previous is None else ()), "--no-write-json"],
        manifest=manifest,
        callbacks=[progress],
    )
    executed = res.result if hasattr(res.result, "results") else None
    if executed is None:
        raise fail(res.exception or RuntimeError("dbt returned no results"))
    with contextlib.suppress(Exception):  # the file is for people and tools, not for us
        executed.write(str(run_results))
    from dbt.artifacts.schemas.run import RunResultsArtifact

    artifact = RunResultsArtifact.from_execution_results(
        results=executed.results,
        elapsed_time=executed.elapsed_time,
        generated_at=executed.generated_at,
        args=executed.args,
    ).to_dict(omit_none=False)
    result = translate(
        artifact,
        graph.node_index(manifest),
        request,
        started_at,
        artifacts=str(inv.target_path),
    )
    if previous is not None:
        before = translate(previous, graph.node_index(manifest), request, started_at)
        result = retry.merged(before, result)
    _raise_for_models(result, warehouse, step)
    if res.exception is not None and not result.models and not result.tests:
        raise fail(res.exception)
    return result


def _raise_for_models(result: TransformResult, warehouse: Warehouse, step: str) -> None:
    """A model's SQL error raises (naming it, with the database's message); so do tests that
    could not run only because the connection went (a restart: retried like a model)."""
    from stacks_core.retry import transient_message

    failed = [m for m in result.models if m.status is NodeStatus.ERROR]
    if failed:
        skipped = sum(1 for m in result.models if m.status is NodeStatus.SKIPPED)
        detail = "; ".join(
            f"{m.kind} {m.name} failed: {redact(m.message or 'no message', warehouse)}"
            for m in failed
        )
        if skipped:
            detail += f" ({skipped} downstream node{'s' if skipped > 1 else ''} skipped)"
        lost = all(transient_message(m.message or "") for m in failed)
        raise DbtStepFailed(step, detail, result, transient=lost)
    errored = [t for t in result.tests if t.status is NodeStatus.ERROR]
    lost = bool(errored) and all(transient_message(t.message or "") for t in errored)
    if lost and not result.count(NodeStatus.FAIL):
        # tests that could not run because the connection went (a restart): not a verdict on
        # the data, so the build is retried like a model that lost it
        detail = "; ".join(
            f"test {t.name} could not run: {redact(t.message or 'no message', warehouse)}"
            for t in errored
        )
        raise DbtStepFailed(step, detail, result, transient=True)


def check_sources(
    step: str, warehouse: Warehouse, manifest: Manifest, select: Sequence[str]
) -> None:
    """A source table the build reads that is missing is one sentence before dbt starts."""
    needed = graph.needed_sources(manifest, select)
    if not needed:
        return
    from stacks_core.sql import connect

    with connect(warehouse) as conn:
        present = {(s.lower(), t.lower()) for s, t in conn.tables()}
    missing = sorted(
        f"{src.schema}.{src.identifier}"
        for uid in needed
        if (src := manifest.sources[uid])
        and (src.schema.lower(), src.identifier.lower()) not in present
    )
    if missing:
        verb = "does" if len(missing) == 1 else "do"
        raise StepFailed(
            step,
            f"the dbt project reads {', '.join(missing)}, which {verb} not exist in the "
            f"warehouse {warehouse.redacted_url()} (run the EL step that loads it first).",
        )
