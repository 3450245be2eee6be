"""How much a run should say, process-wide: set by the ``stacks`` command (``-q`` / ``-v``),
read by runners that decide whether a tool's own log lines reach the terminal."""

from __future__ import annotations

__all__ = ["set_verbosity", "verbosity"]

_LEVEL = [0]  # -1 quiet, 0 normal, 1 verbose


def set_verbosity(level: int) -> None:
    _LEVEL[0] = level


def verbosity() -> int:
    return _LEVEL[0]
