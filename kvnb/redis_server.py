"""A real Redis next to NATS, for side-by-side comparisons: Debian's ``redis-server``, started like kvnb's nats-server.

Loopback only (``--bind 127.0.0.1``, protected mode on), a free port, a temporary data directory
(removed on :meth:`RedisServer.stop`), tied to this process so it never outlives the kernel,
and ready only once ``PING`` answers ``PONG``.

Example::

    from kvnb.redis_server import start_redis
    redis = start_redis()                   # or launch_redis(appendonly=True) for a private one
    r = redis.client()                      # a redis.asyncio.Redis (pip install 'kvnb[redis]')
    await r.set("greeting", "hello")
    redis.kill(); redis.restart()           # a hard kill, then the same port and data directory
    redis.stop()

Redis has no "pick a free port and tell me" mode (``--port 0`` means "no TCP at all"), so kvnb
asks the OS for a free port, starts Redis on it and, if another process took the port in
between, tries again with a new one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import _process
from .errors import InvalidOption, NotSupported, ServerNotFound, ServerStartError

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "INSTALL_HINT", "RedisServer", "current_redis", "find_redis_server", "launch_redis", "redis_available",
    "start_redis", "stop_redis",
]

HOST = "127.0.0.1"
READY_TIMEOUT = 10.0
PORT_ATTEMPTS = 5
INSTALL_HINT = (
    "install Debian's redis-server: `sudo apt-get install redis-server` (`make test` installs it for you), "
    "or set $KVNB_REDIS_SERVER to a redis-server binary."
)
Fsync = Literal["always", "everysec", "no"]
_RESERVED = ("bind", "protected-mode", "port", "dir", "daemonize", "appendonly", "appendfsync")
_shared: _process.Shared[RedisServer] = _process.Shared()  # what start_redis() hands out


def find_redis_server() -> Path:
    """Path of the redis-server binary: ``$KVNB_REDIS_SERVER``, the interpreter's scripts dir, PATH."""
    return _process.find_executable("redis-server", env_var="KVNB_REDIS_SERVER", install_hint=INSTALL_HINT)


def redis_available() -> bool:
    """True when a redis-server binary and the redis-py client are both installed."""
    try:
        find_redis_server()
        import redis.asyncio  # noqa: F401
    except (ServerNotFound, ImportError):
        return False
    return True


def _free_port() -> int:
    # The OS picks a free port; it is free *now* only, hence the retry in _start().
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    """True when Redis on ``port`` answers PING with PONG (not while it still loads its data)."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer(_process.ManagedProcess):
    """A redis-server process started by kvnb. Make one with :func:`launch_redis` or :func:`start_redis`."""

    data_dir: Path
    appendonly: bool = False
    appendfsync: Fsync = "everysec"
    config: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    _temp_dir: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    generation: int = 0
    """Counts starts: 1 after the first start, +1 on every restart."""

    # --- lifecycle ---------------------------------------------------------------------------
    def _argv(self, binary: Path, port: int) -> list[str]:
        argv = [
            str(binary),
            "--bind", HOST,
            "--protected-mode", "yes",
            "--port", str(port),
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
        ]
        for name, value in self.config.items():
            argv += [f"--{name}", value]
        return argv

    def _start(self) -> None:
        binary = find_redis_server()
        attempts = 1 if self.port is not None else PORT_ATTEMPTS  # a port clients already know never moves
        for attempt in range(1, attempts + 1):
            port = self.port if self.port is not None else _free_port()
            offset = self._log_size()
            self._proc = _process.spawn(self._argv(binary, port), log_path=self.log_path, cwd=self.data_dir)
            # The log line proves it is *this* process answering, not another Redis on a reused port.
            def ready(p: int = port, o: int = offset) -> bool:
                return "Ready to accept connections" in self._log_text(o) and _ping(p)

            why = self._wait_started(ready, timeout=READY_TIMEOUT, interval=0.005, not_ready="did not answer PING")
            if why is None:
                self.port = port
                self.generation += 1
                return
            port_taken = "Address already in use" in self._log_text(offset)
            if port_taken and attempt < attempts:
                continue  # someone took the port between our probe and Redis's bind: pick another
            fix = (f"port {port} is taken by another process; leave port= out for a free one, or stop that process"
                   if port_taken else "read the log above")
            raise ServerStartError(
                f"redis-server {why} within {READY_TIMEOUT:.0f} s. Last lines of its log ({self.log_path}):\n"
                f"{_process.tail(self.log_path)}\nFix: {fix}."
            )

    @property
    def log_path(self) -> Path:
        """The server's log (stdout and stderr), appended across restarts."""
        return self.data_dir / "redis-server.log"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT``."""
        return f"redis://{HOST}:{self.port}"

    def client(self, **options: Any) -> redis.asyncio.Redis:
        """A ``redis.asyncio.Redis`` connected to this server (keyword arguments go to redis-py)."""
        try:
            import redis.asyncio
        except ImportError:
            raise NotSupported(
                "the Redis comparison needs redis-py, which is not installed. Fix: pip install 'kvnb[redis]'."
            ) from None
        return redis.asyncio.Redis(host=HOST, port=self.port or 0, **options)

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 5 s); a temporary data directory is removed."""
        self._halt(signal.SIGTERM)
        if self._temp_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        _shared.release(self)

    def kill(self) -> None:
        """SIGKILL the server (no shutdown save), keeping port and data directory for :meth:`restart`."""
        self._halt(signal.SIGKILL)

    def restart(self) -> RedisServer:
        """Stop (SIGTERM: Redis saves a snapshot if ``save`` rules are set), start again on the same port and data."""
        if self._temp_dir and not self.data_dir.exists():
            raise InvalidOption("this Redis was stopped and its temporary directory removed; "
                                "start a new one with launch_redis()")
        self._halt(signal.SIGTERM)
        self._start()
        return self

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running else "stopped"
        persistence = f"AOF appendfsync {self.appendfsync}" if self.appendonly else "RDB snapshots only"
        return f"<kvnb.RedisServer {self.url} {state}, {persistence}, dir {self.data_dir}>"


def _check_options(appendfsync: str, port: int | None, config: Mapping[str, str] | None) -> dict[str, str]:
    if appendfsync not in ("always", "everysec", "no"):
        raise InvalidOption(f"appendfsync must be 'always', 'everysec' or 'no', got {appendfsync!r}. "
                            "Example: launch_redis(appendonly=True, appendfsync='always')")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        raise InvalidOption(f"port must be an int from 1 to 65535, got {port!r}. "
                            "Example: launch_redis(port=6390), or leave it out for a free port.")
    checked: dict[str, str] = {}
    for name, value in (config or {}).items():
        if not isinstance(name, str) or not name.replace("-", "").isalnum() or name in _RESERVED:
            raise InvalidOption(f"config key {name!r} is not allowed: use a Redis directive name such as "
                                f"'notify-keyspace-events'; {', '.join(_RESERVED)} are set by kvnb or by arguments.")
        checked[name] = str(value)
    return checked


def launch_redis(*, appendonly: bool = False, appendfsync: Fsync = "everysec",
                 data_dir: str | os.PathLike[str] | None = None, port: int | None = None,
                 config: Mapping[str, str] | None = None) -> RedisServer:
    """Always spawn a new redis-server; the caller owns it and must ``stop()`` it (``with`` does).

    - ``appendonly``: log every write to an append-only file (AOF) so a hard kill loses nothing
      acknowledged; ``appendfsync`` says when that file is flushed to disk: "always" (every write),
      "everysec" (Redis's default) or "no" (the OS decides). Without AOF, Redis keeps data only in
      RDB snapshots, taken by its default ``save`` rules (after 1 h / 5 min / 1 min and enough
      changes) and at a clean shutdown: a SIGKILL loses everything since the last snapshot.
    - ``data_dir``: where Redis writes its files; a temporary directory (removed on stop) when None.
    - ``port``: a fixed port; by default a free one.
    - ``config``: more Redis directives, e.g. ``{"notify-keyspace-events": "KA"}``.
    """
    extra = _check_options(appendfsync, port, config)
    if data_dir is None:
        path, temp = _process.temp_dir("redis"), True
    else:
        path, temp = Path(data_dir).expanduser().resolve(), False
        path.mkdir(parents=True, exist_ok=True)
    server = RedisServer(data_dir=path, appendonly=appendonly, appendfsync=appendfsync, config=extra,
                         port=port, _temp_dir=temp)
    try:
        server._start()
    except BaseException:
        if temp:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return server


def start_redis(*, appendonly: bool = False, appendfsync: Fsync = "everysec") -> RedisServer:
    """The shared Redis of this process: started on first call, the same one afterwards.

    Re-running a notebook cell does not start a second server. Asking for other persistence
    settings than the running one has replaces it (its data is lost). Use :func:`launch_redis`
    for a private server.
    """
    with _shared.lock:
        running = _shared.running()
        if running is not None:
            if (running.appendonly, running.appendfsync) == (appendonly, appendfsync):
                return running
            running.stop()
        _shared.value = server = launch_redis(appendonly=appendonly, appendfsync=appendfsync)
        return server


def current_redis() -> RedisServer | None:
    """The shared Redis started by :func:`start_redis`, if it is running."""
    return _shared.running()


def stop_redis() -> None:
    """Stop the shared Redis started by :func:`start_redis`, if any."""
    _shared.stop()
