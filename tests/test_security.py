"""The bundled server listens on loopback only: checked from the operating system, not from its config.

The kernel's socket tables (``/proc/net/tcp`` and ``/proc/net/tcp6``) are matched to the server
process through the socket inodes behind ``/proc/<pid>/fd``; every listening socket it owns must
be bound to 127.0.0.1 (or ::1). A TCP connection to the same port on this machine's other
addresses must be refused.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import socket
import sys
from pathlib import Path

import pytest
from _helpers import listening

import kvnb
from kvnb.server import launch

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")

def listeners(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on; an IPv4-mapped IPv6 address is given as
    the IPv4 one, because ``is_loopback`` does not see through the mapping."""
    found = []
    for address, port in listening(pid):
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        found.append((str(ip), port))
    return found


def other_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (no packet is sent to find them)."""
    found = set()
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # UDP connect only picks a route
        found.add(s.getsockname()[0])
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(info[4][0])
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback and a != "0.0.0.0")


def assert_loopback_only(pid: int, client_port: int) -> None:
    sockets = listeners(pid)
    assert (("127.0.0.1", client_port) in sockets), f"the client port {client_port} is not among {sockets}"
    exposed = [(a, p) for a, p in sockets if not ipaddress.ip_address(a).is_loopback]
    assert not exposed, f"nats-server {pid} listens beyond loopback: {exposed}"
    for address in other_addresses():
        with socket.socket() as s:
            s.settimeout(1.0)
            assert s.connect_ex((address, client_port)) != 0, f"port {client_port} answers on {address}"


def test_the_proc_decoder_reads_a_known_listener() -> None:
    """The /proc parsing itself, on a socket whose address we chose (so the checks below can fail)."""
    with socket.socket() as wide:
        wide.bind(("0.0.0.0", 0))
        wide.listen()
        port = wide.getsockname()[1]
        assert ("0.0.0.0", port) in listeners(os.getpid())


@pytest.mark.timeout(30)
def test_start_server_listens_on_loopback_only() -> None:
    server = kvnb.start_server(fresh=True)
    try:
        assert server.pid is not None and server.port is not None
        assert_loopback_only(server.pid, server.port)
    finally:
        server.stop()


@pytest.mark.timeout(30)
def test_a_config_file_cannot_move_the_server_off_loopback(tmp_path: Path) -> None:
    config = tmp_path / "wide.conf"
    config.write_text('listen: "0.0.0.0:0"\nhttp: "127.0.0.1:0"\n')
    with launch(name="kvnb-wide", config_file=config) as server:
        assert server.pid is not None and server.port is not None
        assert_loopback_only(server.pid, server.port)


@pytest.mark.timeout(90)
@pytest.mark.skipif(importlib.util.find_spec("kvnb.cluster") is None, reason="kvnb.cluster is not written yet")
def test_cluster_nodes_listen_on_loopback_only(tmp_path: Path) -> None:
    from kvnb.cluster import start_cluster

    with start_cluster(3, store_dir=tmp_path / "cluster", name="kvnb-sec", fresh=True, progress=False) as cluster:
        for node in cluster:
            assert node.pid is not None
            sockets = listeners(node.pid)
            # client, route and monitoring ports: all of them on loopback
            assert {p for _, p in sockets} >= {node.port, node.cluster_port, node.http_port}, sockets
            assert_loopback_only(node.pid, node.port)


@pytest.mark.timeout(30)
def test_the_classroom_server_listens_on_loopback_only() -> None:
    from kvnb.classroom import start_classroom

    with start_classroom(2) as room:
        server = room.server
        assert server.pid is not None and server.port is not None
        assert_loopback_only(server.pid, server.port)
        assert room.url == f"nats://127.0.0.1:{server.port}"
