"""The Redis lifecycle: a real redis-server on loopback, a free port, a temporary dir, never orphaned."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from _helpers import listening_raw as _listening

from kvnb import _process
from kvnb import redis_server as rs
from kvnb.errors import InvalidOption, ServerNotFound, ServerStartError

needs_redis = pytest.mark.skipif(not rs.redis_available(), reason=f"redis-server is not installed: {rs.INSTALL_HINT}")


@pytest.fixture
def redis() -> Iterator[rs.RedisServer]:
    server = rs.launch_redis()
    try:
        yield server
    finally:
        server.stop()


def _gone(pid: int) -> bool:
    """True when no process ``pid`` exists any more (a zombie would still count as existing)."""
    return not Path(f"/proc/{pid}").exists()


@needs_redis
def test_starts_and_answers_ping(redis: rs.RedisServer) -> None:
    assert redis.is_running and redis.generation == 1
    assert redis.url == f"redis://127.0.0.1:{redis.port}"
    with socket.create_connection(("127.0.0.1", redis.port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(16) == b"+PONG\r\n"
    assert "Ready to accept connections" in redis.log_path.read_text()


@needs_redis
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_listens_on_loopback_only_as_seen_by_the_os(redis: rs.RedisServer) -> None:
    sockets = _listening(redis.pid)  # type: ignore[arg-type]
    port_hex = f"{redis.port:04X}"
    assert sockets == [("tcp", f"0100007F:{port_hex}")], sockets  # 127.0.0.1, IPv4 only, that port only


@needs_redis
async def test_settings_seen_by_a_client(redis: rs.RedisServer) -> None:
    r = redis.client(decode_responses=True)
    try:
        config = {}
        for name in ("bind", "protected-mode", "dir", "appendonly"):
            config.update(await r.config_get(name))
    finally:
        await r.aclose()
    assert config["bind"] == "127.0.0.1"
    assert config["protected-mode"] == "yes"
    assert Path(config["dir"]) == redis.data_dir
    assert config["appendonly"] == "no"


@needs_redis
async def test_appendonly_option() -> None:
    with rs.launch_redis(appendonly=True, appendfsync="always") as server:
        r = server.client(decode_responses=True)
        try:
            assert (await r.config_get("appendonly"))["appendonly"] == "yes"
            assert (await r.config_get("appendfsync"))["appendfsync"] == "always"
            await r.set("k", "v")
        finally:
            await r.aclose()
        assert any((server.data_dir / "appendonlydir").iterdir())


@needs_redis
def test_stop_removes_temp_dir_and_leaves_no_process() -> None:
    server = rs.launch_redis()
    pid, data_dir = server.pid, server.data_dir
    assert pid is not None and data_dir.is_dir()
    server.stop()
    assert not data_dir.exists()
    assert _gone(pid)
    assert not server.is_running and server.pid is None


@needs_redis
def test_kept_data_dir_survives_stop(tmp_path: Path) -> None:
    with rs.launch_redis(data_dir=tmp_path / "data") as server:
        pid = server.pid
    assert (tmp_path / "data" / "redis-server.log").exists()
    assert _gone(pid)  # type: ignore[arg-type]


@needs_redis
def test_kill_then_restart_keeps_port_and_dir(redis: rs.RedisServer) -> None:
    port, pid = redis.port, redis.pid
    redis.kill()
    assert _gone(pid) and not redis.is_running  # type: ignore[arg-type]
    assert redis.data_dir.is_dir()
    redis.restart()
    assert redis.port == port and redis.is_running and redis.generation == 2


@needs_redis
def test_a_taken_port_is_retried_with_another(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real = rs._free_port
    monkeypatch.setattr(rs, "_free_port", lambda: next(ports, None) or real())
    try:
        with rs.launch_redis() as server:
            assert server.port != taken.getsockname()[1]
            assert "Address already in use" in server.log_path.read_text()
    finally:
        taken.close()


@needs_redis
def test_a_taken_fixed_port_fails_clearly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ServerStartError, match=r"port .* is taken"):
            rs.launch_redis(port=taken.getsockname()[1])


@needs_redis
def test_start_redis_is_shared_until_stopped() -> None:
    try:
        first = rs.start_redis()
        assert rs.start_redis() is first
        assert rs.current_redis() is first
        aof = rs.start_redis(appendonly=True)  # other settings replace it
        assert aof is not first and not first.is_running and aof.appendonly
    finally:
        rs.stop_redis()
    assert rs.current_redis() is None


@needs_redis
def test_redis_dies_with_its_parent(tmp_path: Path) -> None:
    """A kernel killed with SIGKILL takes its Redis along (PR_SET_PDEATHSIG), no orphan left."""
    script = textwrap.dedent("""
        import sys, time
        from kvnb.redis_server import launch_redis
        server = launch_redis()
        print(server.pid, flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        redis_pid = int(line)
        assert not _gone(redis_pid)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        assert _process.wait_until(lambda: _gone(redis_pid), timeout=5, interval=0.02)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KVNB_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no redis-server anywhere
    assert not rs.redis_available()
    with pytest.raises(ServerNotFound, match=r"apt-get install redis-server.*make test"):
        rs.launch_redis()


def test_env_var_pointing_nowhere_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KVNB_REDIS_SERVER", str(tmp_path / "nope"))
    with pytest.raises(ServerNotFound, match="KVNB_REDIS_SERVER"):
        rs.find_redis_server()


@pytest.mark.parametrize(("kwargs", "rule"), [
    ({"appendfsync": "sometimes"}, "appendfsync must be"),
    ({"port": 70000}, "port must be"),
    ({"config": {"bind": "0.0.0.0"}}, "not allowed"),
    ({"config": {"save 60": "1"}}, "not allowed"),
])
def test_bad_options_are_refused_before_starting(kwargs: dict, rule: str) -> None:
    with pytest.raises(InvalidOption, match=rule):
        rs.launch_redis(**kwargs)
