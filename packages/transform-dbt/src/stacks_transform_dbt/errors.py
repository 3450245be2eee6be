"""dbt's exceptions and failed nodes as the contract's errors (one sentence, secrets masked)."""

from __future__ import annotations

from pathlib import Path

from stacks_contract.errors import (
    ConfigError,
    StacksError,
    StepFailed,
    TransientError,
    WarehouseUnreachable,
)
from stacks_contract.models import TransformResult
from stacks_contract.warehouse import Warehouse, redact

from stacks_transform_dbt.results import clean_message


class DbtStepFailed(StepFailed):
    """A model failed; ``result`` holds every node's outcome of that run. ``transient``: every
    failed model lost its connection (the warehouse restarted): orchestrators retry the run."""

    def __init__(
        self, step: str, message: str, result: TransformResult, *, transient: bool = False
    ) -> None:
        super().__init__(step, message)
        self.result = result
        self.transient = transient


#: dbt exceptions (by class name, subclasses included) that mean the project or profile is wrong
_CONFIG_ERRORS = frozenset(
    {
        "DbtProjectError",
        "DbtProfileError",
        "ParsingError",
        "CompilationError",
        "DbtUsageException",
        "DbtConfigError",
        "DbtVersionError",
    }
)
_VERB = {"parsed": "parse", "listed": "ls", "run": "run", "built": "build"}


def dbt_failure(
    exc: BaseException, step: str, project_dir: Path, warehouse: Warehouse | None, what: str
) -> StacksError:
    """The contract's error for ``exc``, raised by dbt while the project was ``what`` (parsed,
    built, ...). An interrupt is re-raised: dbtRunner catches BaseException."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        raise exc
    kinds = {cls.__name__ for cls in type(exc).__mro__}  # YamlLoadError is a ParsingError
    if kinds & _CONFIG_ERRORS:
        # dbt's own lines kept (a YAML error points at its file, line and column)
        lines = [ln.rstrip() for ln in str(exc).strip().splitlines() if ln.strip()]
        msg = "\n  ".join(ln for ln in lines if not ln.lower().lstrip().startswith("compiled"))
        msg = redact(msg, warehouse) if warehouse is not None else msg
        return ConfigError(f"The dbt project {project_dir} cannot be {what}: {msg}")
    msg = clean_message(str(exc)) or type(exc).__name__
    if warehouse is not None:
        msg = redact(msg, warehouse)
    if "FailedToConnectError" in kinds and warehouse is not None:
        return WarehouseUnreachable(
            f"dbt cannot connect to the warehouse {warehouse.redacted_url()}: {msg}"
        )
    from stacks_core.retry import is_transient

    # a connection lost or the warehouse restarting: orchestrators retry it
    kind = TransientError if is_transient(exc) else StepFailed
    return kind(step, f"dbt {_VERB.get(what, what)} failed: {msg}")
