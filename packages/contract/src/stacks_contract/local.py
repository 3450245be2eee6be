"""The simplest orchestrator: every step called directly, in-process, one after another.

It is the baseline the real orchestrators are compared with (in the benchmarks and the suites):
whatever Dagster/Airflow/Temporal add, the warehouse must end up exactly as after this.
"""

from __future__ import annotations

from typing import ClassVar

from stacks_contract.errors import StepFailed
from stacks_contract.ledger import Ledger
from stacks_contract.manifest import plan
from stacks_contract.models import (
    NodeStatus,
    RunRecord,
    RunRequest,
    RunStatus,
    StackSpec,
    TransformResult,
    utcnow,
)
from stacks_contract.ports import Orchestrator, Reporter, silent
from stacks_contract.warehouse import Warehouse, redact

__all__ = ["LocalOrchestrator"]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class LocalOrchestrator(Orchestrator):
    """Runs the EL steps in the order the stack lists them, then the transform.

    ``request.select``: a name that is an EL step runs that step and then the transform (which
    depends on every step); any other name is passed to the transform as a model selection, and
    no EL step runs. :func:`~stacks_contract.manifest.plan` is checked first, so a stack whose
    transform reads a table no step produces raises :class:`ConfigError` before anything runs.
    """

    supports_partial_runs: ClassVar[bool] = True
    name = "local"

    def run(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        report: Reporter = silent,
    ) -> RunRecord:
        plan(stack)  # raises ConfigError: nothing has run, nothing to record
        step_names = {s.name for s in stack.el_steps}
        chosen = [n for n in request.select if n in step_names]
        models = tuple(n for n in request.select if n not in step_names)
        steps = [s for s in stack.el_steps if not request.select or s.name in chosen]
        ledger = Ledger(warehouse)
        record = ledger.start(stack.name, self.name, request)
        rows: dict[str, int] = {}

        def finish(status: RunStatus, error: str | None = None, **extra: int) -> RunRecord:
            done = record.model_copy(
                update={
                    "status": status,
                    "finished_at": utcnow(),
                    "rows": rows,
                    "error": redact(error, warehouse) if error else None,
                    **extra,
                }
            )
            ledger.record(done)
            return done

        for step in steps:
            report(step.name, "running")
            try:
                result = step.run(request, warehouse, report)
            except StepFailed as exc:
                return finish(RunStatus.FAILED, str(exc))
            except Exception as exc:  # any tool error becomes a failed run naming the step
                return finish(RunStatus.FAILED, f"Step {step.name!r} failed: {_one_line(exc)}")
            for table, n in result.rows.items():
                rows[table] = rows.get(table, 0) + n
        if stack.transform is None:
            return finish(RunStatus.SUCCEEDED)

        transform = stack.transform
        report(transform.name, "running")
        sub = request.model_copy(update={"select": models})
        try:
            tr = transform.run(sub, warehouse, report)
        except StepFailed as exc:
            return finish(RunStatus.FAILED, str(exc))
        except Exception as exc:
            return finish(RunStatus.FAILED, f"Step {transform.name!r} failed: {_one_line(exc)}")
        counts = _counts(tr)
        if not tr.ok:
            bad = [m.name for m in tr.models if m.status == NodeStatus.ERROR] + [
                t.name for t in tr.tests if t.status in (NodeStatus.FAIL, NodeStatus.ERROR)
            ]
            return finish(
                RunStatus.FAILED,
                f"Step {transform.name!r} failed: {', '.join(bad)} did not pass.",
                **counts,
            )
        return finish(RunStatus.SUCCEEDED, **counts)


def _counts(tr: TransformResult) -> dict[str, int]:
    return {
        "models_built": sum(1 for m in tr.models if m.status == NodeStatus.SUCCESS),
        "tests_passed": tr.count(NodeStatus.PASS),
        "tests_failed": tr.count(NodeStatus.FAIL) + tr.count(NodeStatus.ERROR),
    }
