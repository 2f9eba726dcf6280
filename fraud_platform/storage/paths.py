"""Where a storage location is (a local folder or a remote store) and how a local file is
replaced whole.

The one place that answers "is this local?": a local folder can be renamed into (the atomic
step) and is not shared with runs on other machines; anything with a protocol other than
``file`` (``s3://...``) is remote. Imports nothing from the platform, so `fraud_platform.settings`
can use it too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from fsspec.utils import get_protocol
from upath import UPath

#: fsspec protocols of the local filesystem (``local`` is an alias of ``file``).
LOCAL_PROTOCOLS = ("", "file", "local")

#: Run launchers that start a run on another machine (a worker, a pod, a container): a local
#: folder or an embedded database is not shared with it.
REMOTE_RUN_LAUNCHERS = frozenset(
    {
        "CeleryRunLauncher",
        "CeleryK8sRunLauncher",
        "K8sRunLauncher",
        "DockerRunLauncher",
        "EcsRunLauncher",
    }
)


def is_local(location: str | os.PathLike[str] | UPath) -> bool:
    """True when ``location`` (a path, URL or `UPath`) is on the local filesystem."""
    if isinstance(location, UPath):
        return location.protocol in LOCAL_PROTOCOLS
    return get_protocol(os.fspath(location)) in LOCAL_PROTOCOLS


def is_remote(location: str | os.PathLike[str] | UPath) -> bool:
    """True for object-store URLs such as ``s3://bucket/prefix``; False for local folders."""
    return not is_local(location)


def remote_run_launcher(instance: object | None) -> str | None:
    """The name of ``instance``'s run launcher when it runs runs on other machines, else None."""
    launcher = getattr(instance, "run_launcher", None) if instance is not None else None
    if launcher is None:
        return None
    # A subclass (the pool's PoolRunLauncher) runs runs where its base does.
    remote = any(kind.__name__ in REMOTE_RUN_LAUNCHERS for kind in type(launcher).__mro__)
    return type(launcher).__name__ if remote else None


def temporary_beside(final: Path) -> Path:
    """A hidden, unique name next to ``final`` to write to and then rename over it: readers see
    the old file or the new one, whole, and a leftover never looks like an asset."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")


def replace_atomically(final: Path, fill: Callable[[Path], None]) -> None:
    """Let ``fill`` write a temporary file beside ``final``, then rename it over ``final``.

    Rename is atomic on POSIX, so ``final`` is never seen half written; the temporary file is
    removed if ``fill`` or the rename fails.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(final)
    try:
        fill(temporary)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
