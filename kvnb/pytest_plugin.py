"""pytest plugin: a bundled nats-server for notebook tests (nbval) and for your own tests.

``pytest --kvnb-server --nbval-lax notebooks/`` starts one bundled nats-server for the whole
session and exports its URL as ``NATS_URL`` before any notebook kernel starts, so every
``kvnb.start_server()`` and ``kvnb.connect()`` inside the notebooks uses it. (pytest fixtures do
not reach notebook kernels; the environment does.) The server is stopped when the session ends.

The ``kvnb_server_url`` fixture gives that URL to ordinary tests.
"""

from __future__ import annotations

import os

import pytest

_server = None
_previous_url: str | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kvnb")
    group.addoption("--kvnb-server", action="store_true", default=False,
                    help="start a bundled nats-server for the session and export NATS_URL to notebook kernels")
    group.addoption("--kvnb-store-dir", default=None,
                    help="store directory for --kvnb-server (default: a temporary directory)")


def pytest_configure(config: pytest.Config) -> None:
    global _server, _previous_url
    if not config.getoption("--kvnb-server") or hasattr(config, "workerinput"):
        return
    from .server import launch

    _server = launch(store_dir=config.getoption("--kvnb-store-dir"), name="kvnb-pytest")
    _previous_url = os.environ.get("NATS_URL")
    os.environ["NATS_URL"] = _server.url


def pytest_unconfigure(config: pytest.Config) -> None:
    global _server
    if not hasattr(config, "workerinput"):
        from ._process import sweep_orphan_temp_dirs

        # kernels and servers that tests killed on purpose left their folders: their owners are gone
        sweep_orphan_temp_dirs()
    if _server is None:
        return
    _server.stop()
    _server = None
    if _previous_url is None:
        os.environ.pop("NATS_URL", None)
    else:
        os.environ["NATS_URL"] = _previous_url


@pytest.fixture(scope="session")
def kvnb_server_url() -> str:
    """The URL of the session's bundled server (needs ``--kvnb-server``)."""
    if _server is None:
        pytest.skip("run pytest with --kvnb-server to get a bundled nats-server")
    return _server.url
