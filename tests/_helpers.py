"""Helpers for tests that check server processes from the operating system's side (Linux ``/proc``),
and a nats-server without JetStream."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

LISTEN = "0A"  # the state column of /proc/net/tcp*


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def listening_raw(pid: int) -> list[tuple[str, str]]:
    """(table, local address in hex) of every TCP socket ``pid`` listens on: ``("tcp", "0100007F:1F90")``.

    Read from the kernel's socket tables matched through ``/proc/<pid>/fd``, not from any config.
    """
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == LISTEN and cols[9] in inodes:
                found.append((table, cols[1]))
    return found


def decode(table: str, local: str) -> tuple[str, int]:
    """``("tcp", "0100007F:1F90")`` -> ``("127.0.0.1", 8080)``: the kernel prints each 32-bit word little-endian."""
    addr_hex, port_hex = local.split(":")
    raw = bytes.fromhex(addr_hex)
    if table == "tcp":
        addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # four little-endian 32-bit words
        addr = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
    return addr, int(port_hex, 16)


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on."""
    return {decode(table, local) for table, local in listening_raw(pid)}


@contextlib.contextmanager
def server_without_jetstream(folder: Path, timeout: float = 10.0) -> Iterator[str]:
    """A nats-server with JetStream off (``kvnb.server.launch`` always turns it on); yields its client URL.

    Spawned from a minimal config on a port the server picks, and stopped at the end of the block.
    """
    from kvnb import _process
    from kvnb.server import find_nats_server

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "no-jetstream.conf"
    config.write_text('listen: "127.0.0.1:-1"\n')
    proc = _process.spawn([str(find_nats_server()), "-c", str(config), "--ports_file_dir", str(folder)],
                          log_path=folder / "no-jetstream.log")
    try:
        deadline = time.monotonic() + timeout
        while not (ports := list(folder.glob("*.ports"))):
            assert proc.poll() is None and time.monotonic() < deadline, "the server without JetStream did not start"
            time.sleep(0.01)
        yield json.loads(ports[0].read_text())["nats"][0]
    finally:
        _process.terminate(proc)


@contextlib.contextmanager
def running_classroom(participants: int) -> Iterator[Any]:
    """A classroom server for a test module, stopped (every file removed) at the end."""
    from kvnb.classroom import start_classroom

    room = start_classroom(participants)
    try:
        yield room
    finally:
        room.stop()


@contextlib.asynccontextmanager
async def logged_in(room: Any, users: tuple[str, ...] = ("p1", "p2", "instructor")) -> AsyncIterator[dict[str, Any]]:
    """A connection per user of ``room`` (its own credentials), closed at the end."""
    conns = {user: await room.connect(user) for user in users}
    try:
        yield conns
    finally:
        for nc in conns.values():
            await nc.close()
