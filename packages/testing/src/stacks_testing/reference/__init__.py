"""Tool-free reference implementations of the ports, in plain SQL over :mod:`stacks_core.sql`.

They exist so the conformance suites can be proven on something real before any tool package
lands, and so the orchestrator suite has steps every orchestrator must be able to run through the
ports alone:

* :class:`ReferenceSource`: a JSON-lines "source" on disk (so a subprocess sees the same data);
* :class:`ReferenceELStep`: merges that source on its primary key inside one transaction,
  incremental on an ``updated_at`` cursor kept in the warehouse, stamping ``_stacks_run_id`` and
  ``_stacks_loaded_at``;
* :class:`ReferenceSqlTransform`: ``create table ... as select`` models, in order, plus SQL tests;
* deliberately broken steps (:class:`AppendOnlyELStep`, :class:`ForgetfulELStep`,
  :class:`RunIdIgnoringELStep`, :class:`CursorFirstELStep`) that the suites must catch.

Every object can be rebuilt in a fresh interpreter from JSON in an environment variable
(:func:`el_step_from_env`, :func:`transform_from_env`, :func:`stack_from_env`), which is how the
SIGKILL tests start them in :mod:`stacks_testing.runner`.
"""

from stacks_testing.reference.el import (
    AppendOnlyELStep,
    CursorFirstELStep,
    ForgetfulELStep,
    ReferenceELStep,
    RunIdIgnoringELStep,
)
from stacks_testing.reference.source import ENV_STACK, ENV_STEP, ENV_TRANSFORM, ReferenceSource
from stacks_testing.reference.stacks import (
    el_step_from_env,
    reference_stack,
    seed_sources,
    stack_from_env,
    stack_from_json,
    stack_spec_json,
    transform_from_env,
)
from stacks_testing.reference.transform import ReferenceSqlTransform, SqlModel, SqlTest

__all__ = [
    "ENV_STACK",
    "ENV_STEP",
    "ENV_TRANSFORM",
    "AppendOnlyELStep",
    "CursorFirstELStep",
    "ForgetfulELStep",
    "ReferenceELStep",
    "ReferenceSource",
    "ReferenceSqlTransform",
    "RunIdIgnoringELStep",
    "SqlModel",
    "SqlTest",
    "el_step_from_env",
    "reference_stack",
    "seed_sources",
    "stack_from_env",
    "stack_from_json",
    "stack_spec_json",
    "transform_from_env",
]
