"""Register stacks in the ``stacks.stacks`` entry-point group the way an installed package does:
a module plus a ``.dist-info`` folder in a directory put on ``sys.path`` / ``PYTHONPATH``, so the
CLI (in this process or a subprocess) finds them through ``importlib.metadata``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["install_stacks"]


def install_stacks(
    site: Path,
    *,
    dist: str,
    module: str,
    source: str,
    stacks: Mapping[str, str],
    summary: str = "",
) -> Path:
    """Write ``module`` (``source``) and a distribution ``dist`` declaring ``stacks`` (stack
    name -> object reference inside ``module``, e.g. ``"ref": "build"``) into ``site``."""
    meta = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    meta.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    lines = ["Metadata-Version: 2.1", f"Name: {dist}", "Version: 0.1"]
    if summary:
        lines.append(f"Summary: {summary}")
    (meta / "METADATA").write_text("\n".join(lines) + "\n")
    eps = "".join(f"{name} = {module}:{obj}\n" for name, obj in stacks.items())
    (meta / "entry_points.txt").write_text("[stacks.stacks]\n" + eps)
    return site
