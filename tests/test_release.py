"""`scripts/release`'s checks: the workspace passes them; a broken copy of its metadata fails them
with one sentence per problem. (The dry run's installs and each stack's `stacks list` and
`stacks plan` are `scripts/wheelhouse.py`, which test_wheel_install.py runs in scripts/test on
the wheels it builds once.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def check(root: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(root / "scripts" / "release"), "--check-only"]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=60)


def test_the_workspace_passes_the_release_checks() -> None:
    proc = check(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("metadata ok (14 members)")


def test_a_missing_bound_version_classifier_or_changelog_entry_fails(tmp_path: Path) -> None:
    for rel in ("scripts/release", "scripts/wheelhouse.py", "CHANGELOG.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    for pyproject in ROOT.glob("*/*/pyproject.toml"):
        if pyproject.parent.parent.name not in ("packages", "stacks"):
            continue
        dst = tmp_path / pyproject.relative_to(ROOT)
        dst.parent.mkdir(parents=True)
        shutil.copy2(pyproject, dst)

    def edit(rel: str, old: str, new: str) -> None:
        path = tmp_path / rel
        assert old in path.read_text(), (rel, old)
        path.write_text(path.read_text().replace(old, new, 1))

    edit("packages/el-dlt/pyproject.toml", '"stacks-core>=0.2,<0.3"', '"stacks-core"')
    edit("packages/demo/pyproject.toml", 'version = "0.2.0"', 'version = "0.2.1"')
    edit("packages/testing/pyproject.toml", '"Programming Language :: Python :: 3.13",\n', "")
    edit("CHANGELOG.md", "### stacks-cli\n", "### (cli)\n")
    proc = check(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "release: stacks-demo is at 0.2.1, the others at 0.2.0.",
        "release: stacks-el-dlt requires 'stacks-core': bound it to stacks-core>=0.2,<0.3.",
        "release: stacks-testing lacks the classifier for Python 3.13.",
        "release: CHANGELOG.md's 0.2.0 section has no '### stacks-cli'.",
        "release: metadata FAILED (14 members)",
    ]
