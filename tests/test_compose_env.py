"""docker-compose.yml, deploy/ and environment.yml, tested without a Docker engine: the files parse,
everything they reference exists, the nats config passes ``nats-server -t -c``, the jupyterlab
service's command starts JupyterLab here against a server run from that same config, and the
conda environment lists the same dependencies as pyproject.toml."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml

from kvnb.doctor import collect
from kvnb.server import find_nats_server, launch

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PASSWORD_VAR = "KVNB_NATS_PASSWORD"


def _requirement(spec: str) -> tuple[str, str]:
    """('nats-py', '<3,>=2.16') from 'nats-py>=2.16,<3': a normalized name and sorted specifiers."""
    found = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    assert found, spec
    name = re.sub(r"[-_.]+", "-", found.group(1)).lower()
    return name, ",".join(sorted(part.strip() for part in found.group(2).split(",") if part.strip()))


def _nats_config(service: dict[str, object]) -> Path:
    for volume in service["volumes"]:  # type: ignore[attr-defined]
        host, container = str(volume).split(":")[:2]
        if container == "/etc/nats/nats.conf":
            return (ROOT / host).resolve()
    raise AssertionError("the nats service mounts no /etc/nats/nats.conf")


def test_compose_services_and_referenced_files() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"nats", "jupyterlab"}
    nats, lab = services["nats"], services["jupyterlab"]
    assert _nats_config(nats).is_file()
    for volume in [*nats["volumes"], *lab["volumes"]]:
        source = str(volume).split(":")[0]
        if source.startswith("."):
            assert (ROOT / source).exists(), f"{source} is mounted but does not exist"
    dockerfile = ROOT / lab["build"]["context"] / lab["build"]["dockerfile"]
    assert dockerfile.is_file()
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY"):
            sources = [w for w in line.split()[1:-1] if not w.startswith("--")]
            for source in sources:
                assert (ROOT / lab["build"]["context"] / source).exists(), f"{dockerfile.name}: COPY {source} missing"
    assert lab["environment"]["NATS_URL"] == "nats://nats:4222"
    assert lab["depends_on"]["nats"]["condition"] == "service_healthy"
    image = re.match(r"nats:(\d+)\.(\d+)", nats["image"])
    assert image and (int(image.group(1)), int(image.group(2))) >= (2, 11)  # per-key TTL, limit markers


def test_every_published_port_is_bound_to_localhost_and_no_secret_is_committed() -> None:
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
    # the password is only ever a required variable from .env, never a value in the repository
    assert COMPOSE["services"]["nats"]["environment"][PASSWORD_VAR].startswith(f"${{{PASSWORD_VAR}:?")
    assert COMPOSE["services"]["jupyterlab"]["environment"]["NATS_PASSWORD"].startswith(f"${{{PASSWORD_VAR}:?")
    assert re.search(rf"^{PASSWORD_VAR}=\s*$", (ROOT / "deploy" / "env.example").read_text(), re.M)
    assert "password: $" + PASSWORD_VAR in _nats_config(COMPOSE["services"]["nats"]).read_text()


def test_nats_config_passes_nats_server_check(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _nats_config(COMPOSE["services"]["nats"])
    binary = str(find_nats_server())
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_VAR}
    missing = subprocess.run([binary, "-t", "-c", str(config)], capture_output=True, text=True, env=env, timeout=30)
    assert missing.returncode != 0 and PASSWORD_VAR in missing.stderr + missing.stdout  # no password, no start
    env[PASSWORD_VAR] = "a-test-password"
    ok = subprocess.run([binary, "-t", "-c", str(config)], capture_output=True, text=True, env=env, timeout=30)
    assert ok.returncode == 0, ok.stderr + ok.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(120)
def test_jupyterlab_service_command_runs_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The service's command, run here against a server started from the compose nats config.

    Only what cannot work outside a container changes: the address (127.0.0.1, tests never listen
    beyond loopback), the port (a free one), the notebook folder and the NATS URL (the service name
    ``nats`` resolves only inside compose).
    """
    password = "compose-test-" + os.urandom(6).hex()
    monkeypatch.setenv(PASSWORD_VAR, password)
    server = launch(config_file=_nats_config(COMPOSE["services"]["nats"]), name="kvnb-compose-test")
    lab_service = COMPOSE["services"]["jupyterlab"]
    argv = list(lab_service["command"])
    assert argv[:2] == ["kvnb", "lab"]
    port = _free_port()
    swap = {"--ip": "127.0.0.1", "--port": str(port), "--notebooks": str(ROOT / "notebooks")}
    for i, arg in enumerate(argv[:-1]):
        if arg in swap:
            argv[i + 1] = swap[arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env.update({k: str(v) for k, v in lab_service["environment"].items()})
    env.update(NATS_URL=server.url, NATS_PASSWORD=password)
    for var in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR"):
        (tmp_path / var).mkdir()
        env[var] = str(tmp_path / var)
    try:
        # the environment the service gives its kernels reaches the server and logs in
        for var in ("NATS_URL", "NATS_USER", "NATS_PASSWORD"):
            monkeypatch.setenv(var, env[var])
        checks = {c.name: c for c in collect(timeout=3)}
        assert checks["connection"].status == "ok", checks["connection"]
        assert checks["JetStream"].status == "ok", checks["JetStream"]

        log = tmp_path / "lab.log"
        with open(log, "wb") as out:
            lab = subprocess.Popen([sys.executable, "-m", "kvnb.cli", *argv[1:]], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 90
            token = None
            while token is None:
                assert lab.poll() is None, f"kvnb lab exited ({lab.returncode}):\n{log.read_text()}"
                assert time.monotonic() < deadline, f"JupyterLab did not start:\n{log.read_text()}"
                found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", log.read_text())
                token = found.group(1) if found else None
                time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=10) as resp:
                assert resp.status == 200
            text = log.read_text()
            assert f"using the NATS deployment at {server.url}" in text  # no bundled server: the compose one
        finally:
            lab.send_signal(signal.SIGTERM)
            try:
                lab.wait(timeout=30)
            finally:
                if lab.poll() is None:
                    lab.kill()
                    lab.wait()
        assert lab.returncode == 0, log.read_text()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "JupyterLab still listens after kvnb lab stopped"
    finally:
        server.stop()


def test_environment_yml_matches_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {_requirement(d) for d in pyproject["project"]["dependencies"]}
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_requirement(d) for d in conda if not d.startswith(("python", "pip"))}
    listed |= {_requirement(d) for d in pip if not d.startswith("-e")}
    assert listed == wanted
    python = next(d for d in conda if d.startswith("python"))
    assert python.replace("python", "") == pyproject["project"]["requires-python"]
    assert "-e ." in pip  # kvnb itself (Binder builds from the repository)
