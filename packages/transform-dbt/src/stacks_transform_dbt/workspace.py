"""Where and how dbt runs for one (project, warehouse): the project view with its packages
installed, the profile (rendered from the warehouse, or the user's, checked against it), and the
``--state`` / ``--defer`` dbt's own variables ask for."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.warehouse import Warehouse

from stacks_transform_dbt import packages
from stacks_transform_dbt.invocation import DbtInvocation, invoke
from stacks_transform_dbt.profiles import (
    TARGET,
    TELEMETRY_ENV,
    ProfileChoice,
    profile_env,
    refuse_mismatch,
    render_profile,
    user_target,
    write_profile,
)

#: dbt's own variables for ``--state`` and ``--defer``, honoured as dbt honours them
STATE_ENV, DEFER_ENV = "DBT_STATE", "DBT_DEFER"


def state_and_defer(project_dir: Path) -> tuple[Path | None, bool]:
    """``DBT_STATE`` (a relative path is the project's, as dbt reads it) and ``DBT_DEFER``."""
    raw = os.environ.get(STATE_ENV)
    state = (project_dir / Path(raw).expanduser()).resolve() if raw else None
    defer = os.environ.get(DEFER_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    if defer and state is None:
        raise ConfigError("--defer needs --state DIR: the artifacts of the run to defer to.")
    if state is not None and not (state / "manifest.json").is_file():
        raise ConfigError(f"--state {state} holds no manifest.json (dbt's target/ of a run).")
    return state, defer


def project_view(
    project_dir: Path, state: Path, install_path: str, vars: Mapping[str, Any]
) -> Path:
    """Where dbt is pointed: the project, or its view with the packages installed."""

    def deps(view: Path) -> None:
        inv = DbtInvocation(
            project_dir=view,
            profiles_dir=state / "profiles",
            target=TARGET,
            env=dict(TELEMETRY_ENV),
            vars=dict(vars),
            target_path=state / "target",
            log_path=state / "logs",
        )
        res = invoke(inv, "deps", vars)
        if not res.success:
            names = ", ".join(packages.package_names(project_dir))
            exc = res.exception or RuntimeError("dbt deps failed")
            msg = " ".join(str(exc).split()).rstrip(".")
            raise ConfigError(
                f"Installing the dbt packages of {project_dir} ({names}) failed: {msg}."
            )

    return packages.project_view(project_dir, state, install_path=install_path, deps=deps)


def profile(
    choice: ProfileChoice,
    warehouse: Warehouse,
    state: Path,
    view: Path,
    vars: Mapping[str, Any],
    *,
    schema: str,
    check: bool = True,
) -> tuple[Path, str, dict[str, str]]:
    """``(profiles_dir, target, env)``: the user's profile, its target checked to write to
    ``warehouse`` (unless not ``check``); else one rendered into ``state``, the password
    only in ``env``."""
    if choice.profiles_dir is not None:
        found = user_target(choice, vars, cwd=view)
        if check:
            refuse_mismatch(choice, found, warehouse)
        return choice.profiles_dir, found.name, dict(TELEMETRY_ENV)
    target = choice.target or TARGET
    text = render_profile(
        warehouse, profile=choice.profile, schema=schema, threads=choice.threads or 4, target=target
    )
    write_profile(state / "profiles", text)
    return state / "profiles", target, profile_env(warehouse)
