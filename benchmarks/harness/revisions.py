"""The code measured: which commit it is, and another revision's code checked out beside it (for
``--compare-with``, here and in `case_pages.py`)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .common import REPO


@contextlib.contextmanager
def revision_worktree(revision: str, path: Path) -> Iterator[Path]:
    """A detached git worktree of ``revision`` at ``path``, removed afterwards."""
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(path), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
            check=False,
            capture_output=True,
        )


def platform_version() -> str:
    """The commit measured, and whether the work tree differed from it (read-only git calls)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "fraud_platform"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "(no git)"
    return f"commit {commit or '?'}" + (" + uncommitted changes" if dirty else "")
