"""`fraud-platform serve` as a user starts it on the embedded PostgreSQL: one log line per
request, and none of the embedded server's own commands and output (initdb, pg_ctl)."""

from __future__ import annotations

import time
from pathlib import Path

import requests
from dagster_cli import clean_env, dagster_command
from services import free_port, start, stop

from fraud_platform.storage.embedded_postgres import stop_embedded


def wait_for(condition: object, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


def test_serve_logs_one_line_per_request_and_no_postgres_internals(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    pgdata = storage / "postgres"
    port = free_port()
    log = tmp_path / "serve.log"
    env = clean_env() | {"FRAUD_STORAGE_URL": str(storage)}
    server = start([dagster_command("fraud-platform"), "serve", "--port", str(port)], env, log)
    try:
        wait_for(lambda: "Serving the fraud datasets" in log.read_text(), log)
        # The server starts the embedded PostgreSQL in the background (initdb, then pg_ctl).
        wait_for(lambda: (pgdata / "postmaster.pid").exists(), log)
        time.sleep(0.5)
        before = log.read_text().splitlines()
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/datasets/nope", timeout=30).status_code == 404
        time.sleep(0.5)
    finally:
        stop([server])
        stop_embedded(pgdata)
    lines = log.read_text().splitlines()
    served = lines[len(before) :]
    assert len([line for line in served if '"GET / HTTP/1.1" 200' in line]) == 1
    assert len([line for line in served if '"GET /datasets/nope HTTP/1.1" 404' in line]) == 1
    assert len(served) == 2, served
    # At INFO the whole log holds access lines only: nothing of initdb, pg_ctl or their output
    # (the embedded server's commands were logged at INFO with their whole output).
    info = [line for line in lines if " INFO " in line]
    assert info and all('HTTP/1.1" ' in line for line in info), info
    for internal in ("initdb", "pg_ctl", "Running commandline", "syncing data to disk"):
        assert not any(internal in line for line in lines), (internal, lines)
