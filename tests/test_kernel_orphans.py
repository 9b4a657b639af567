"""A bundled server never outlives its Jupyter kernel, and a kernel interrupt does not kill it.

Each round starts a real ipykernel (jupyter_client's KernelManager) with NATS_URL unset, runs
``kvnb.start_server()`` in it, then interrupts, restarts, shuts down or SIGKILLs the kernel and
checks, from the operating system by PID, that no nats-server with that PID is left (within 2 s).
``make test`` runs a few rounds of each; the ``stress`` variant runs 20 (``pytest -m stress``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import KernelManager

ACTIONS = ("interrupt", "restart", "shutdown", "sigkill")
ROUNDS = 2
STRESS_ROUNDS = int(os.environ.get("KVNB_STRESS_ROUNDS", "20"))
GONE_WITHIN = 2.0
START_CODE = "import kvnb\ns = kvnb.start_server()\nprint(s.pid, s.port)"


def server_alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) nats-server process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and b"nats-server" in cmdline


def gone_within(pid: int, seconds: float = GONE_WITHIN) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not server_alive(pid):
            return True
        time.sleep(0.02)
    return not server_alive(pid)


class Kernel:
    """A real ipykernel with a kvnb bundled server started inside it."""

    def __init__(self, workdir: Path, ipython_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}  # the kernel must spawn its own server
        env["IPYTHONDIR"] = str(ipython_dir)
        self.km = KernelManager(kernel_name="python3", connection_file=str(workdir / "kernel.json"))
        self.km.start_kernel(env=env, cwd=str(workdir))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=30)
        pid, port = self.run(START_CODE).split()
        self.server_pid, self.server_port = int(pid), int(port)

    def run(self, code: str, timeout: float = 30) -> str:
        """Execute ``code``; its stdout, or an AssertionError carrying the kernel's error."""
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

        reply = self.kc.execute_interactive(code, output_hook=hook, timeout=timeout)
        assert reply["content"]["status"] == "ok", "".join(out)
        return "".join(out)

    def interrupt_busy_cell(self) -> dict[str, Any]:
        """Start a long cell, interrupt it (SIGINT to the kernel's process group), return its reply."""
        # Short sleeps, not one long one: Linux may hand the process-group SIGINT to any thread of the
        # kernel (iopub, control, ...); Python then only flags it, and the main thread raises the
        # KeyboardInterrupt when its current C call returns. One 60 s sleep would hide it for 60 s.
        busy = "import time\nprint('sleeping', flush=True)\nfor _ in range(600):\n    time.sleep(0.1)"
        msg_id = self.kc.execute(busy)
        deadline = time.monotonic() + 30
        while True:  # interrupt only once the cell's own code runs (execute_input comes before that)
            assert time.monotonic() < deadline, "the busy cell did not start"
            msg = self.kc.get_iopub_msg(timeout=30)
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream"
                    and "sleeping" in msg["content"]["text"]):
                break
        self.km.interrupt_kernel()
        while True:
            reply = self.kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply

    def close(self) -> None:
        self.kc.stop_channels()
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)
        self.km.cleanup_resources()


@pytest.fixture
def kernel_dirs(tmp_path: Path) -> tuple[Path, Path]:
    ipython_dir = tmp_path / "ipython"
    ipython_dir.mkdir()
    return tmp_path, ipython_dir


@pytest.fixture
def open_kernel(kernel_dirs: tuple[Path, Path]) -> Iterator[Any]:
    made: list[Kernel] = []

    def start() -> Kernel:
        kernel = Kernel(*kernel_dirs)
        made.append(kernel)
        return kernel

    yield start
    for kernel in made:
        kernel.close()
        assert not server_alive(kernel.server_pid), f"nats-server {kernel.server_pid} outlived its test"


def one_round(kernel: Kernel, action: str) -> None:
    pid = kernel.server_pid
    assert server_alive(pid), "start_server() in the kernel did not leave a running nats-server"
    if action == "interrupt":
        reply = kernel.interrupt_busy_cell()
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        time.sleep(0.5)  # a SIGINT that reached the server would have stopped it by now (it takes ms)
        assert server_alive(pid), "a kernel interrupt killed the bundled nats-server"
        code = ("kv = await kvnb.open_bucket('after_interrupt', fresh=True)\n"
                "print(await kv.put('k', 'v'), kvnb.current_server().pid)")
        assert kernel.run(code).split() == ["1", str(pid)], "the server stopped answering after an interrupt"
        kernel.km.shutdown_kernel(now=False)
    elif action == "restart":
        kernel.km.restart_kernel(now=False)
        kernel.kc.wait_for_ready(timeout=30)  # the new kernel is up; the old one's server must be gone
    elif action == "shutdown":
        kernel.km.shutdown_kernel(now=False)
    elif action == "sigkill":
        kernel_pid = kernel.km.provisioner.pid  # type: ignore[union-attr]
        assert kernel_pid is not None
        os.kill(kernel_pid, signal.SIGKILL)
    assert gone_within(pid), f"nats-server {pid} still running {GONE_WITHIN} s after kernel {action}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("action", ACTIONS)
def test_kernel_fault_leaves_no_server(open_kernel: Any, action: str) -> None:
    for _ in range(ROUNDS):
        one_round(open_kernel(), action)


@pytest.mark.stress
@pytest.mark.timeout(900)
@pytest.mark.parametrize("action", ACTIONS)
def test_kernel_fault_leaves_no_server_stress(kernel_dirs: tuple[Path, Path], action: str) -> None:
    for n in range(STRESS_ROUNDS):
        kernel = Kernel(*kernel_dirs)
        try:
            one_round(kernel, action)
        finally:
            kernel.close()
        assert not server_alive(kernel.server_pid), f"round {n}: nats-server {kernel.server_pid} left behind"
