"""Child processes that never outlive the kernel that started them.

Shared by the bundled nats-server, the local cluster and the Redis comparison. A child is
started in its own session, so a kernel *interrupt* (SIGINT to the process group) does not
reach it, and with ``PR_SET_PDEATHSIG`` on Linux, so it gets SIGKILL when the kernel dies,
even by SIGKILL. An ``atexit`` hook stops whatever is still running at a normal exit.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import ctypes.util
import os
import queue
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

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


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        terminate(proc, grace=2.0)


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
