"""stacks transform over dbt-core: profiles rendered from the warehouse, runs in-process.

Importing this package is cheap; dbt itself is imported on the first parse or run.
"""

from stacks_transform_dbt.errors import DbtStepFailed
from stacks_transform_dbt.invocation import DbtInvocation
from stacks_transform_dbt.profiles import PASSWORD_ENV, render_profile
from stacks_transform_dbt.results import result_from_run_results
from stacks_transform_dbt.transform import (
    RUN_ID_VAR,
    SOURCE_SCHEMA_VAR,
    DbtTransform,
)

__all__ = [
    "PASSWORD_ENV",
    "RUN_ID_VAR",
    "SOURCE_SCHEMA_VAR",
    "DbtInvocation",
    "DbtStepFailed",
    "DbtTransform",
    "render_profile",
    "result_from_run_results",
]
