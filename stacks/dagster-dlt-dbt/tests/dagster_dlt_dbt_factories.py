"""Factories the SIGKILL test's subprocess runner loads by path (see stacks_contract runner)."""

from __future__ import annotations

from stacks_contract.models import StackSpec
from stacks_contract.testing.runner import warehouse_from_env
from stacks_dagster_dlt_dbt import build_spec


def spec_from_env() -> StackSpec:
    return build_spec(warehouse_from_env())
