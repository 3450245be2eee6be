"""Installed stacks, found through the ``stacks.stacks`` entry-point group.

A stack distribution declares, in its pyproject::

    [project.entry-points."stacks.stacks"]
    my-stack = "my_package:build_stack"   # a zero-argument callable returning a Stack

Listing reads package metadata only (no stack module is imported), so ``stacks list`` stays fast
and works even when a stack's tools are broken; :func:`load_stack` imports the one stack asked for.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from stacks_contract.errors import ConfigError
from stacks_contract.ports import Stack

GROUP = "stacks.stacks"

__all__ = ["GROUP", "available_stacks", "describe", "entry_point", "load_stack"]


def available_stacks() -> dict[str, EntryPoint]:
    """Every installed stack: name -> its entry point (not loaded), sorted by name."""
    eps = entry_points(group=GROUP)
    return {ep.name: ep for ep in sorted(eps, key=lambda e: e.name)}


def describe(ep: EntryPoint) -> str:
    """A one-line description from the providing distribution's metadata, without importing it."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ""
    try:
        return (dist.metadata.get("Summary") or "").strip()
    except Exception:  # broken metadata must not break `stacks list`
        return ""


def _installed_sentence(names: list[str]) -> str:
    if not names:
        return "No stacks are installed (e.g. `uv sync --package stacks-dagster-dlt-dbt`)."
    return f"Installed stacks: {', '.join(names)}."


def entry_point(name: str) -> EntryPoint:
    """The entry point of stack ``name``, not loaded; :class:`ConfigError` naming the installed
    stacks when there is none."""
    stacks = available_stacks()
    ep = stacks.get(name)
    if ep is None:
        raise ConfigError(f"Unknown stack {name!r}. {_installed_sentence(list(stacks))}")
    return ep


def load_stack(name: str) -> Stack:
    """Import and build the stack ``name``.

    Raises :class:`ConfigError` (one sentence) when no such stack is installed (naming the
    installed ones), when its module fails to import, or when its factory returns no ``Stack``.
    """
    ep = entry_point(name)
    try:
        factory = ep.load()
    except Exception as exc:
        # an ImportError here usually means a tool is missing or broken in this environment
        raise ConfigError(
            f"Stack {name!r} is installed but could not be imported from {ep.value!r}: "
            f"{type(exc).__name__}: {exc}."
        ) from exc
    try:
        stack = factory()
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"Stack {name!r} could not be built by {ep.value!r}: {type(exc).__name__}: {exc}."
        ) from exc
    if not isinstance(stack, Stack):
        raise ConfigError(
            f"Stack {name!r}: {ep.value!r} returned {type(stack).__name__}, not a "
            "stacks_contract.ports.Stack."
        )
    return stack
