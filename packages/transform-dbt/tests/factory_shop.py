"""Factory the conformance suite's SIGKILL test calls in a fresh interpreter (by path)."""

from __future__ import annotations

from pathlib import Path

from stacks_transform_dbt import DbtTransform

PROJECT = Path(__file__).parent / "project"


def make() -> DbtTransform:
    return DbtTransform(PROJECT)
