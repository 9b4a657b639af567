"""Child processes that never outlive the kernel that started them.

Shared by the bundled nats-server, the local cluster and the Redis comparison. A child is
started in its own session, so a kernel *interrupt* (SIGINT to the process group) does not
reach it, and with ``PR_SET_PDEATHSIG`` on Linux, so it gets SIGKILL when the kernel dies,
even by SIGKILL. An ``atexit`` hook stops whatever is still running at a normal exit.

:class:`ManagedProcess` is the lifecycle those three classes share (pid, log, ready wait, halt);
:class:`Shared` is the one instance per process that ``start_server``/``start_redis``/``start_cluster`` hand out.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import ctypes.util
import fcntl
import os
import queue
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Generic, Protocol, Self, TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_live: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def spawn(argv: Sequence[str], *, log_path: Path, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, tied to this process's life, its output to ``log_path``.

    Linux delivers ``PR_SET_PDEATHSIG`` when the *thread* that forked the child ends, not the
    process. So a child is always forked from a thread that lives as long as the process: the
    main thread, or kvnb's own spawner thread when called from elsewhere (an executor, a widget
    callback on an ipykernel subshell thread, ``asyncio.to_thread``).
    """
    if threading.current_thread() is threading.main_thread():
        return _spawn(argv, log_path=log_path, cwd=cwd, env=env)
    return _Spawner.run(lambda: _spawn(argv, log_path=log_path, cwd=cwd, env=env))


class _Spawner:
    """A daemon thread that never ends, so children forked from it keep their parent thread."""

    _lock = threading.Lock()
    _jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.SimpleQueue()
    _thread: threading.Thread | None = None

    @classmethod
    def run(cls, job: Callable[[], T]) -> T:
        with cls._lock:
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._loop, name="kvnb-spawner", daemon=True)
                cls._thread.start()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        cls._jobs.put((job, done))
        return done.result()

    @classmethod
    def _loop(cls) -> None:
        while True:
            job, done = cls._jobs.get()
            try:
                done.set_result(job())
            except BaseException as err:  # handed back to the caller's thread
                done.set_exception(err)


def _spawn(argv: Sequence[str], *, log_path: Path, cwd: Path | None,
           env: dict[str, str] | None) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child; closed below
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    finally:
        log.close()
    _live.add(proc)
    return proc


def terminate(proc: subprocess.Popen[bytes], *, grace: float = 5.0, sig: int = signal.SIGTERM) -> None:
    """Stop ``proc``: ``sig`` first, SIGKILL after ``grace`` seconds; always reaps it."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    else:
        proc.wait()
    _live.discard(proc)


_TEMP_PREFIX = "kvnb-"
_swept = False


def temp_dir(kind: str) -> Path:
    """A new temporary folder ``kvnb-<kind>-<pid>-XXXX`` owned by this process.

    The owner's pid is in the name, so a process killed before it could clean up (SIGKILL leaves
    no chance) leaves only its own folders, and the next kvnb start removes those whose owner is
    gone (:func:`sweep_orphan_temp_dirs`); nobody else's folders are touched.
    """
    global _swept
    if not _swept:
        _swept = True
        sweep_orphan_temp_dirs()
    return Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{kind}-{os.getpid()}-"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def sweep_orphan_temp_dirs(base: str | Path | None = None) -> list[Path]:
    """Remove kvnb's temporary folders whose owning process no longer runs; returns what was removed."""
    removed: list[Path] = []
    folder = Path(base) if base is not None else Path(tempfile.gettempdir())
    try:
        candidates = list(folder.glob(f"{_TEMP_PREFIX}*-*-*"))
    except OSError:
        return removed
    for path in candidates:
        parts = path.name.split("-")
        # kvnb-<kind>-<pid>-<random>: the pid is the second field from the end
        if len(parts) < 4 or not parts[-2].isdigit() or not path.is_dir() or path.is_symlink():
            continue
        pid = int(parts[-2])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        terminate(proc, grace=2.0)
    # our own temporary folders (stores of servers never stopped, killed ones): nothing uses them now
    if _swept:
        for path in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*-{os.getpid()}-*"):
            shutil.rmtree(path, ignore_errors=True)


def find_executable(name: str, *, env_var: str, install_hint: str) -> Path:
    """Find a binary: ``$env_var``, then this interpreter's scripts dir, then PATH.

    Inside a Jupyter kernel the virtualenv's ``bin/`` is usually not on PATH, which is why
    the interpreter's own scripts directory is searched before PATH.
    """
    from .errors import ServerNotFound

    tried: list[str] = []
    override = os.environ.get(env_var)
    if override:
        path = Path(override).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ServerNotFound(
            f"${env_var} is set to {override!r}, but that is not an executable file. "
            f"Fix: point ${env_var} at the {name} binary, or unset it to use the bundled one."
        )
    tried.append(f"${env_var} (not set)")
    for scripts in dict.fromkeys([sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]):
        candidate = Path(scripts) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        tried.append(str(candidate))
    found = shutil.which(name)
    if found:
        return Path(found)
    tried.append(f"{name} on PATH")
    raise ServerNotFound(
        f"cannot find the {name} binary. Looked in: {'; '.join(tried)}. Fix: {install_hint}"
    )


def lock_exclusive(path: Path, *, in_use: str) -> IO[bytes]:
    """Take a lock on ``path`` (created if missing), held until the returned file is closed.

    nats-server takes no lock on its store, and two servers on one store corrupt it: kvnb holds
    this one while it runs a server there. When another holder has it, ServerStartError(``in_use``).
    """
    from .errors import ServerStartError

    handle = open(path, "a+b")  # noqa: SIM115 - the caller holds it open while the server runs
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ServerStartError(in_use) from None
    return handle


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.002,
               alive: Callable[[], bool] | None = None) -> bool:
    """Poll ``predicate`` until true or ``timeout``; stop early (False) if ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if alive is not None and not alive():
            return predicate()
        time.sleep(interval)
    return predicate()


def tail(path: Path, lines: int = 15, *, offset: int = 0) -> str:
    """The last ``lines`` lines of a log file (from byte ``offset`` on), for error messages."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class ManagedProcess:
    """What kvnb's process-owning classes share: a child in ``_proc`` that logs to ``log_path``.

    Subclasses (dataclasses) declare ``_proc`` as a field and define ``log_path`` and ``stop()``;
    ``with`` stops them at the end of the block.
    """

    _proc: subprocess.Popen[bytes] | None

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The process id, or None while the process is not running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def is_running(self) -> bool:
        """True while the process runs."""
        return self.pid is not None

    def _log_size(self) -> int:
        """The log's size now: logs are appended across restarts, so a start reads only from here on."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_text(self, offset: int = 0) -> str:
        """The log from byte ``offset`` on ("" when there is none yet)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _wait_started(self, ready: Callable[[], bool], *, timeout: float, interval: float = 0.002,
                      not_ready: str = "did not become ready") -> str | None:
        """Wait until ``ready()`` while the process runs: None once it is.

        Otherwise the process is ended (SIGTERM, SIGKILL after 1 s) and forgotten, and the reason
        is returned for the error message: ``"exited with code N"`` or ``not_ready``.
        """
        proc = self._proc
        if proc is None:
            return "is not running"

        def alive() -> bool:
            return proc.poll() is None

        if wait_until(ready, timeout=timeout, interval=interval, alive=alive) and alive():
            return None
        code = proc.poll()  # before terminate(): only an exit of its own counts as "exited"
        terminate(proc, grace=1.0)
        self._proc = None
        return f"exited with code {code}" if code is not None else not_ready

    def _halt(self, sig: int, *, grace: float = 5.0) -> None:
        """Send ``sig`` (SIGKILL after ``grace`` seconds), reap the process and forget it."""
        if self._proc is not None:
            terminate(self._proc, sig=sig, grace=grace)
            self._proc = None

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Stoppable(Protocol):
    @property
    def is_running(self) -> bool: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=_Stoppable)


class Shared(Generic[S]):
    """The one instance a ``start_*`` function shares in this process (default server, Redis, cluster).

    Hold ``lock`` (re-entrant) while checking and replacing ``value``, so two threads never start two.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.value: S | None = None

    def running(self) -> S | None:
        """The shared instance while it runs, else None."""
        with self.lock:
            value = self.value
            return value if value is not None and value.is_running else None

    def release(self, instance: object) -> bool:
        """Forget ``instance`` if it is the shared one (its ``stop()`` calls this); True if it was."""
        with self.lock:
            if self.value is instance:
                self.value = None
                return True
            return False

    def stop(self) -> None:
        """Stop the shared instance, if any."""
        with self.lock:
            if self.value is not None:
                self.value.stop()
