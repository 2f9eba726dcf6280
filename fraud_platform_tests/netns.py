"""Network namespaces for the worker tests: each worker a "machine" of its own, which reaches the
services only through loopback forwarding.

A namespace made here has a loopback interface and nothing else. For each service port a forwarder
inside it listens on 127.0.0.1:PORT and passes every connection through a Unix socket (the
filesystem is shared between namespaces, the network is not) to a forwarder outside, which opens
the service's own 127.0.0.1:PORT. A worker keeps its configuration (127.0.0.1 everywhere) and
reaches nothing it was not given: not the webserver, not the other worker.

Needs root and `ip netns` (Linux); `available()` says whether this machine allows it. The
forwarders are this file run as a script: ``python netns.py inside|outside SOCKETS PORT...``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

CHUNK = 1 << 16


def available() -> bool:
    """True when this process may create a network namespace (root, `ip netns`)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"fraud-probe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return made


def net_namespace_of(pid: int) -> str:
    """The network namespace a process is in (its ``/proc/PID/ns/net`` link)."""
    return os.readlink(f"/proc/{pid}/ns/net")


@contextmanager
def namespaces(names: Sequence[str], ports: Sequence[int]) -> Iterator[dict[str, list[str]]]:
    """A namespace per name, each reaching the host's loopback ``ports`` only; yields, per name,
    the command prefix that runs a program inside it. Everything is removed on the way out."""
    sockets = Path(tempfile.mkdtemp(prefix="fns-"))  # short: a Unix socket path is <= 107 bytes
    tags = {name: f"fraud-{name}-{uuid.uuid4().hex[:6]}" for name in names}
    processes: list[subprocess.Popen] = []
    made: list[str] = []
    try:
        for name, tag in tags.items():
            subprocess.run(["ip", "netns", "add", tag], check=True, capture_output=True)
            made.append(tag)
            subprocess.run(
                ["ip", "netns", "exec", tag, "ip", "link", "set", "lo", "up"],
                check=True,
                capture_output=True,
            )
            folder = sockets / name
            folder.mkdir()
            port_args = [str(p) for p in ports]
            outside = [sys.executable, __file__, "outside", str(folder), *port_args]
            inside = ["ip", "netns", "exec", tag, sys.executable, __file__, "inside", str(folder)]
            for command in (outside, [*inside, *port_args]):  # the outside end listens first
                process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                processes.append(process)
                if process.stdout is None or process.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"forwarder {command} did not start")
        yield {name: ["ip", "netns", "exec", tag] for name, tag in tags.items()}
    finally:
        for process in processes:
            process.kill()
            process.wait()
        for tag in made:
            subprocess.run(["ip", "netns", "del", tag], capture_output=True)
        shutil.rmtree(sockets, ignore_errors=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until its end, then pass the end on (a half-close, not a close)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


#: Connections being forwarded. asyncio holds tasks weakly: a connection whose reading is paused
#: (a slow far end) is otherwise a cycle the garbage collector frees in the middle of a transfer.
_ACTIVE: set[asyncio.Task] = set()


async def _join(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    task = asyncio.current_task()
    if task is not None:
        _ACTIVE.add(task)
    try:
        await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))
    finally:
        for writer in (a[1], b[1]):
            writer.close()
        _ACTIVE.discard(task)  # type: ignore[arg-type]


async def _serve(side: str, folder: Path, ports: list[int]) -> None:
    servers = []
    for port in ports:
        path = str(folder / f"{port}.sock")
        if side == "inside":  # 127.0.0.1:port in the namespace -> the Unix socket

            async def handle(reader, writer, path=path):  # type: ignore[no-untyped-def]
                try:
                    far = await asyncio.open_unix_connection(path)
                except OSError:
                    writer.close()
                    return
                await _join((reader, writer), far)

            servers.append(await asyncio.start_server(handle, "127.0.0.1", port))
        else:  # the Unix socket -> the host's 127.0.0.1:port

            async def handle(reader, writer, port=port):  # type: ignore[no-untyped-def]
                try:
                    far = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    writer.close()
                    return
                await _join((reader, writer), far)

            servers.append(await asyncio.start_unix_server(handle, path))
    print("ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    _side, _folder, *_ports = sys.argv[1:]
    asyncio.run(_serve(_side, Path(_folder), [int(p) for p in _ports]))
