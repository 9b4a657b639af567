"""Fixtures for the real-browser tests: JupyterLab + Debian's chromium + Playwright for Python.

One JupyterLab server and one nats-server per test module; each test gets a fresh notebook, a fresh
browser and a fresh browser context. The notebook kernels inherit ``NATS_URL`` from the JupyterLab
process, so they talk to the test's nats-server, while the test writes through its own client.

Playwright cannot download browsers here: it drives the system ``chromium`` (`make test` installs
it). Everything Jupyter, IPython and chromium write goes to a temporary directory, so a user's
settings never leak in and the tests leave nothing behind. Screenshots go to
``test-output/browser/`` at the repository root.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kvnb import _process
from kvnb.server import Server, launch

playwright_api = pytest.importorskip("playwright.async_api",
                                     reason="Playwright for Python is not installed: pip install -e '.[dev]'")

REPO = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO / "test-output" / "browser"
LAB_START_TIMEOUT = 90.0  # cold start on a busy 2-core machine
PAGE_READY_TIMEOUT = 60.0  # page load + kernel start
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]
# User settings beat overrides, so the settings dir is a fresh temporary one (see lab_server).
SETTING_OVERRIDES: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # every cell rendered (no windowing), so what is off screen can be measured and photographed too
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
    "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Light"},
}
LIGHT_THEME = "JupyterLab Light"
DARK_THEME = "JupyterLab Dark"

_DOC_OPEN_JS = """(path) => {
  const w = window.jupyterapp && window.jupyterapp.shell && window.jupyterapp.shell.currentWidget;
  return !!w && !!w.context && w.context.path === path && w.context.isReady;
}"""
# True once the current notebook's kernel is really usable: the toolbar's idle dot lies for ~1 s.
_KERNEL_READY_JS = """(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return false;
  const w = app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path || !w.context.isReady || !w.sessionContext) return false;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""

# A traceback in any output (JupyterLab renders errors as stderr text, like warnings).
_TRACEBACK_JS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .some(e => e.textContent.includes('Traceback (most recent call last)'))"""
# What went wrong inside the notebook, for failure messages: error outputs and open dialogs.
_DIAGNOSE_JS = """() => {
  const text = (sel) => Array.from(document.querySelectorAll(sel)).map(e => e.innerText.slice(0, 1500));
  return {
    errors: text('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'),
    dialogs: text('.jp-Dialog'),
    outputs: text('.jp-OutputArea-output').slice(0, 12),
    theme: document.body.dataset.jpThemeName || null,
  };
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token and the folder it serves."""

    url: str
    token: str
    root: Path
    log_path: Path
    nats_url: str

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the Jupyter REST API; returns the decoded JSON body (None when empty)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def delete_sessions(self, path: str) -> None:
        """Shut down the kernels of every session on ``path`` (they pile up otherwise)."""
        for session in self.api("GET", "/api/sessions") or []:
            if session.get("path") == path:
                self.api("DELETE", f"/api/sessions/{session['id']}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium; the tests skip (saying why) only when it is not installed."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed (Playwright cannot download browsers here). "
                    "Fix: `make test` installs it, or run `apt-get install -y chromium`.")
    return path


@pytest.fixture(scope="module")
def browser_nats() -> Iterator[Server]:
    """The nats-server the notebook kernels and the tests share (independent of other fixtures)."""
    server = launch(name="kvnb-browser")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")  # not session: it would idle on through the rest of `make test`
def lab_server(tmp_path_factory: pytest.TempPathFactory, browser_nats: Server,
               chromium_path: str) -> Iterator[LabServer]:
    """JupyterLab on 127.0.0.1 with every Jupyter/IPython/home directory in a temporary folder."""
    base = tmp_path_factory.mktemp("lab")
    names = ("home", "config", "data", "runtime", "settings", "workspaces", "ipython", "root")
    dirs = {name: base / name for name in names}
    for path in dirs.values():
        path.mkdir()
    (dirs["config"] / "labconfig").mkdir()
    overrides = dirs["config"] / "labconfig" / "default_setting_overrides.json"
    overrides.write_text(json.dumps(SETTING_OVERRIDES, indent=1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON", "XDG_"))}
    env.update({
        "HOME": str(dirs["home"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "NATS_URL": browser_nats.url,  # kernels inherit it: kvnb in the notebook uses this server
        "PYTHONUNBUFFERED": "1",
    })
    token = secrets.token_hex(16)
    port = _free_port()
    log_path = base / "jupyterlab.log"
    argv = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={dirs['root']}",
        "--LabApp.expose_app_in_browser=True",  # creates window.jupyterapp
        "--LanguageServerManager.autodetect=False",
    ]
    proc = _process.spawn(argv, log_path=log_path, cwd=dirs["root"], env=env)
    lab = LabServer(url=f"http://127.0.0.1:{port}", token=token, root=dirs["root"], log_path=log_path,
                    nats_url=browser_nats.url)

    def answering() -> bool:
        try:
            lab.api("GET", "/api/status", timeout=2.0)
            return True
        except (OSError, urllib.error.URLError, ValueError):
            return False

    try:
        def alive() -> bool:
            return proc.poll() is None

        if not _process.wait_until(answering, timeout=LAB_START_TIMEOUT, interval=0.2, alive=alive):
            pytest.fail(f"JupyterLab did not answer /api/status within {LAB_START_TIMEOUT:.0f} s "
                        f"(exit code {proc.poll()}). Last lines of its log:\n{_process.tail(log_path, 30)}")
        yield lab
    finally:
        _process.terminate(proc, grace=10.0)  # SIGTERM lets it shut its kernels down


@dataclass
class LabPage:
    """One notebook open in its own browser context."""

    page: Any
    path: str
    name: str
    lab: LabServer
    screenshots: list[Path] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    reopen: Callable[[], Awaitable[LabPage]] | None = None
    """Open the same file again in a new browser context (after a save, to see what was kept)."""
    started: float = field(default_factory=time.time)

    async def run_all(self) -> None:
        """Run every cell; not awaited in the page, so a cell that never ends cannot hang the test."""
        await self.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    async def wait_for(self, predicate_js: str, *, timeout: float, what: str, arg: Any = None) -> float:
        """Poll ``predicate_js`` in the page until true; return the seconds it took.

        Fails at once when a cell shows a traceback, and on timeout; either way with the notebook's
        error outputs, the browser console errors and a screenshot, which usually say why.
        """
        started = time.monotonic()
        # Say which held in one evaluation: the predicate may flip back (a kernel goes busy again).
        check = f"(arg) => ({predicate_js})(arg) ? 'ok' : (({_TRACEBACK_JS})() ? 'traceback' : false)"
        try:
            handle = await self.page.wait_for_function(check, arg=arg, timeout=max(1.0, timeout * 1000), polling=25)
            if await handle.json_value() == "ok":
                return time.monotonic() - started
            why = "a cell raised an exception"
        except playwright_api.TimeoutError:
            why = f"not there after {timeout:.1f} s"
        shot = await self.screenshot(f"{self.name}-failure")
        info = await self.page.evaluate(_DIAGNOSE_JS)
        pytest.fail(f"{what}: {why}. Screenshot: {shot}\n"
                    f"error outputs: {info['errors']}\ndialogs: {info['dialogs']}\noutputs: {info['outputs']}\n"
                    f"browser console errors: {self.console_errors[-10:]}")

    async def wait_for_selector(self, selector: str, *, timeout: float, what: str) -> float:
        return await self.wait_for("(sel) => document.querySelector(sel) !== null", arg=selector,
                                   timeout=timeout, what=what)

    async def screenshot(self, name: str, selector: str | None = None) -> Path:
        """Save ``test-output/browser/<name>.png``: the whole page, or one element when ``selector`` is given."""
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUTPUT_DIR / f"{name}.png"
        if selector is None:
            await self.page.screenshot(path=str(path), full_page=True)
        else:
            await self.page.locator(selector).first.screenshot(path=str(path))
        self.screenshots.append(path)
        return path

    async def set_theme(self, *, dark: bool) -> None:
        """Switch JupyterLab to its dark (or light) theme and wait until the page has applied it."""
        theme = DARK_THEME if dark else LIGHT_THEME
        await self.page.evaluate(
            "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme)
        await self.wait_for("(l) => document.body.dataset.jpThemeLight === l", arg="false" if dark else "true",
                            timeout=15.0, what=f"theme {theme!r} applied")
        await self.page.wait_for_timeout(300)  # let the CSS variables settle before a screenshot


def notebook_json(cells: list[str]) -> dict[str, Any]:
    """A minimal nbformat 4 notebook with these code cells and the python3 kernel."""
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": source} for source in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


OpenNotebook = Callable[[list[str] | Path], Awaitable[LabPage]]


@pytest.fixture
def test_name(request: pytest.FixtureRequest) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)


@pytest.fixture
async def open_notebook(lab_server: LabServer, chromium_path: str, tmp_path: Path,
                        test_name: str) -> AsyncIterator[OpenNotebook]:
    """``page = await open_notebook([cell, ...])`` (or a notebook's path): open, with its kernel idle."""
    pw = await playwright_api.async_playwright().start()
    browser_home = tmp_path / "chromium-home"
    browser_home.mkdir()
    browser = await pw.chromium.launch(
        executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS,
        env={"HOME": str(browser_home), "XDG_CONFIG_HOME": str(browser_home / "config"),
             "XDG_CACHE_HOME": str(browser_home / "cache"), "XDG_DATA_HOME": str(browser_home / "data"),
             "PATH": os.environ.get("PATH", "")},
    )
    contexts: list[Any] = []
    paths: list[str] = []

    (OUTPUT_DIR / f"{test_name}-failure.png").unlink(missing_ok=True)  # stale from an earlier run

    async def _open(cells: list[str] | Path) -> LabPage:
        if isinstance(cells, Path):  # a notebook file (the curriculum), opened as a learner would
            path = f"{cells.stem}-{secrets.token_hex(3)}.ipynb"
            shutil.copyfile(cells, lab_server.root / path)
        else:
            path = f"{test_name}-{secrets.token_hex(3)}.ipynb"
            (lab_server.root / path).write_text(json.dumps(notebook_json(cells), indent=1))
        paths.append(path)
        return await _goto(path)

    async def _goto(path: str) -> LabPage:
        context = await browser.new_context(viewport={"width": 1280, "height": 1000})
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(PAGE_READY_TIMEOUT * 1000)
        workspace = secrets.token_hex(4)
        url = (f"{lab_server.url}/lab/workspaces/{workspace}/tree/{urllib.parse.quote(path)}"
               f"?reset&token={lab_server.token}")
        lab_page = LabPage(page=page, path=path, name=test_name, lab=lab_server, reopen=lambda: _goto(path))
        # Widget front ends fail in the console, not in the notebook: keep those for failure messages.
        page.on("console", lambda msg: lab_page.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda err: lab_page.console_errors.append(str(err)))
        started = time.monotonic()
        # Start the kernel while the page loads (both take seconds). The server keeps one session per
        # path, so the page joins this one whichever request comes first.
        session = {"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}}
        await asyncio.gather(asyncio.to_thread(lab_server.api, "POST", "/api/sessions", session, 30.0),
                             page.goto(url, wait_until="domcontentloaded"))
        loaded = await lab_page.wait_for(_DOC_OPEN_JS, arg=path, timeout=PAGE_READY_TIMEOUT,
                                         what=f"notebook {path} open in JupyterLab")
        await lab_page.wait_for(_KERNEL_READY_JS, arg=path, timeout=PAGE_READY_TIMEOUT,
                                what=f"notebook {path} open with an idle, connected kernel")
        await page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # more room for the widgets
        print(f"\n{path}: notebook open after {loaded:.1f} s, kernel idle after {time.monotonic() - started:.1f} s")
        dialogs = await page.locator(".jp-Dialog").all_inner_texts()
        assert not dialogs, f"an unexpected JupyterLab dialog is open: {dialogs}"
        return lab_page

    try:
        yield _open
    finally:
        for context in contexts:
            await context.close()
        await browser.close()
        await pw.stop()
        for path in paths:
            try:
                lab_server.delete_sessions(path)
            except (OSError, urllib.error.URLError):
                pass
