"""dbt packages (``packages.yml`` / ``dependencies.yml``) installed by ``dbt deps`` into the
stack's state folder, never into the user's project.

dbt installs packages into ``<project>/<packages-install-path>`` and writes ``package-lock.yml``
beside ``dbt_project.yml``. So dbt is pointed at a *view* of the project in the state folder: a
symlink per top-level entry of the project, except the install folder and the lock file, which
are the view's own. The view holds no copy of any project file (dbt reads the user's files
through the links, and sees every edit at once); the user's ``package-lock.yml`` is copied in,
so a committed lock pins the versions as it does for plain ``dbt deps``. A relative ``local:``
package (``../shared_macros``) resolves against the view as it does against the project: the
view is nested deep enough that the path stays inside the state folder, where a link leads to the
real folder. ``dbt deps`` runs again only when the package spec or the lock changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

SPEC_FILES = ("packages.yml", "dependencies.yml")
LOCK_FILE = "package-lock.yml"
DEFAULT_INSTALL_PATH = "dbt_packages"
#: what the view never links: dbt's outputs (stacks passes its own paths) and what deps writes
_NOT_LINKED = frozenset({"target", "logs", LOCK_FILE, ".git"})
_STAMP = "deps.stamp"


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def declared(project_dir: Path) -> list[dict[str, Any]]:
    """The package entries of the project's ``packages.yml`` and ``dependencies.yml`` (``[]``
    when it declares none; an unreadable file counts as declaring, so dbt reports it)."""
    out: list[dict[str, Any]] = []
    for name in SPEC_FILES:
        path = project_dir / name
        if not path.is_file():
            continue
        data = _load(path)
        if not isinstance(data, dict):
            out.append({"unreadable": name})
            continue
        entries = data.get("packages") or []
        out += [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    return out


def _escaping_locals(entries: list[dict[str, Any]]) -> list[str]:
    """Relative ``local:`` paths that leave the project (``../x``); Jinja is left to dbt."""
    out = []
    for e in entries:
        local = e.get("local")
        if isinstance(local, str) and "{{" not in local and not os.path.isabs(local):
            norm = os.path.normpath(local)
            named = any(part != ".." for part in Path(norm).parts)  # not the project's parent
            if norm.startswith(".." + os.sep) and named:
                out.append(norm)
    return out


def _ups(path: str) -> int:
    n = 0
    for part in Path(path).parts:
        if part != "..":
            break
        n += 1
    return n


def _link(link: Path, target: Path) -> None:
    """``link`` -> ``target``, replacing whatever stands at ``link``."""
    if link.is_symlink():
        if os.readlink(link) == str(target):
            return
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    elif link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def _sync_links(view: Path, project_dir: Path, skip: set[str]) -> None:
    view.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in project_dir.iterdir()} - skip
    for entry in view.iterdir():
        if entry.is_symlink() and entry.name not in wanted:
            entry.unlink()  # removed from the project
    for name in sorted(wanted):
        _link(view / name, project_dir / name)


def project_view(
    project_dir: Path,
    state: Path,
    *,
    install_path: str = DEFAULT_INSTALL_PATH,
    deps: Callable[[Path], None],
) -> Path:
    """The folder dbt is pointed at: ``project_dir`` itself when it declares no package, else
    its view under ``state`` with the packages installed (``deps(view)`` runs ``dbt deps`` when
    the spec, the lock or dbt's version changed since the last install)."""
    entries = declared(project_dir)
    if not entries:
        return project_dir
    lock = _load(project_dir / LOCK_FILE) if (project_dir / LOCK_FILE).is_file() else None
    pinned = lock.get("packages") if isinstance(lock, dict) else None
    locked = [e for e in pinned if isinstance(e, dict)] if isinstance(pinned, list) else []
    locals_out = _escaping_locals(entries + locked)
    depth = max((_ups(p) for p in locals_out), default=0)
    base = state / "project"
    # deep enough that `../` * depth from the view stays inside `base`
    view = base.joinpath(*(["_"] * max(depth - 1, 0)), project_dir.name)
    skip = set(_NOT_LINKED) | {install_path.strip("/").split("/")[0]}
    _sync_links(view, project_dir, skip)
    for local in locals_out:
        _link(Path(os.path.normpath(view / local)), Path(os.path.normpath(project_dir / local)))
    h = hashlib.sha1(f"{view}\0{version('dbt-core')}".encode())
    for name in (*SPEC_FILES, LOCK_FILE):
        path = project_dir / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"-"))
    stamp = h.hexdigest()
    stamp_file = state / _STAMP
    installed = (view / install_path).is_dir()
    if installed and stamp_file.exists() and stamp_file.read_text() == stamp:
        return view
    user_lock = project_dir / LOCK_FILE
    if user_lock.is_file():
        shutil.copyfile(user_lock, view / LOCK_FILE)
    else:  # as for a checkout without a lock: dbt resolves the spec afresh
        (view / LOCK_FILE).unlink(missing_ok=True)
    deps(view)
    stamp_file.write_text(stamp)
    return view


def package_names(project_dir: Path) -> list[str]:
    """How the project's packages are named in its spec (``dbt-labs/dbt_utils``, a git URL, a
    local path), for error messages."""
    names = []
    for e in declared(project_dir):
        for key in ("package", "git", "local", "tarball", "private", "unreadable"):
            if e.get(key):
                names.append(str(e[key]))
                break
    return names
