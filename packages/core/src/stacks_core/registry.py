"""Installed stacks, found through the ``stacks.stacks`` entry-point group.

A stack distribution declares, in its pyproject::

    [project.entry-points."stacks.stacks"]
    my-stack = "my_package:build_stack"   # a zero-argument callable returning a Stack

Listing reads package metadata only (no stack module is imported), so ``stacks list`` stays fast
and works even when a stack's tools are broken; :func:`load_stack` imports the one stack asked for.

A stack a user composed in their own code needs no distribution: wherever a stack name goes, a
*reference* ``package.module:attr`` or ``path/to/file.py:attr`` names a ``Stack`` (or a
zero-argument callable returning one) directly, e.g. ``stacks run ./my_stacks.py:airflow``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import StackRef, StackSpec
from stacks_contract.ports import Stack

GROUP = "stacks.stacks"

__all__ = [
    "GROUP",
    "available_stacks",
    "describe",
    "entry_point",
    "is_reference",
    "load_attribute",
    "load_stack",
    "spec_for",
]

# `module.path:attr` or `some/file.py:attr`; a URL (`postgresql://...`) never matches
_REFERENCE = re.compile(r"^(?P<where>[\w.\-/\\~]+):(?P<attr>[A-Za-z_]\w*)$")


def is_reference(name: str) -> bool:
    """Whether ``name`` is a ``module:attr`` / ``file.py:attr`` reference, not an installed name."""
    return _REFERENCE.match(name) is not None


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
        return (
            "No stacks are installed: `uv run stacks init my-stack` makes one of your own "
            "(in a stacks checkout, `uv sync --all-packages` installs the shipped ones)."
        )
    return f"Installed stacks: {', '.join(names)}."


def entry_point(name: str) -> EntryPoint:
    """The entry point of stack ``name``, not loaded; :class:`ConfigError` naming the installed
    stacks when there is none. A reference has none: it is checked for existence only."""
    if is_reference(name):
        _reference_target(name)
        return EntryPoint(name=name, value=name, group=GROUP)
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
        factory = _load_reference(name) if is_reference(name) else ep.load()
    except ConfigError:
        raise
    except Exception as exc:
        # an ImportError here usually means a tool is missing or broken in this environment
        raise ConfigError(
            f"Stack {name!r} {'' if is_reference(name) else 'is installed but '}could not be "
            f"imported from {ep.value!r}: "
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


def _reference_target(name: str) -> tuple[str, str, Path | None]:
    """(module or file, attribute, the file's absolute path for a file reference)."""
    match = _REFERENCE.match(name)
    assert match is not None
    where, attr = match["where"], match["attr"]
    if not (where.endswith(".py") or "/" in where or "\\" in where):
        return where, attr, None
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"Stack reference {name!r}: there is no file {str(path)!r}.")
    return where, attr, path


def load_attribute(ref: str) -> Any:
    """What ``module:attr`` or ``path/to/file.py:attr`` names (a file is imported once per
    process); :class:`ConfigError` when the file, module or attribute is missing."""
    if not is_reference(ref):
        raise ConfigError(f"Expected 'module:attr' or 'path/to/file.py:attr', got {ref!r}.")
    where, attr, path = _reference_target(ref)
    if path is None:
        module = importlib.import_module(where)
    else:
        module_name = f"stacks_user_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
        module = sys.modules.get(module_name)  # type: ignore[assignment]
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"Stack reference {ref!r}: {path} is not a Python file.")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"Stack reference {ref!r}: {where} has no {attr!r}.") from None


def _load_reference(name: str) -> Any:
    target = load_attribute(name)
    return target if callable(target) and not isinstance(target, Stack) else (lambda: target)


def spec_for(ref: StackRef, env: Mapping[str, str] | None = None) -> StackSpec:
    """The spec of the stack ``ref`` names, bound to the warehouse it resolves to in ``env``
    (this process's environment by default): what a scheduler or worker rebuilds on its side."""
    return load_stack(ref.stack).spec(ref.resolve_warehouse(env))
