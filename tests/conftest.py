"""Shared fixtures: a real nats-server started by the tests, a connection, a fresh bucket."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator

import pytest

import kvnb
from kvnb.server import Server, launch

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _no_external_nats(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests own their servers; NATS_URL (set for notebook kernels) must not leak into them."""
    if "uses_nats_url" not in request.keywords:
        monkeypatch.delenv("NATS_URL", raising=False)


@pytest.fixture(scope="session")
def nats_server() -> Iterator[Server]:
    """One bundled nats-server (file storage, temporary store) shared by the session's tests."""
    saved = os.environ.pop("NATS_URL", None)
    server = launch(name="kvnb-tests")
    try:
        yield server
    finally:
        server.stop()
        if saved is not None:
            os.environ["NATS_URL"] = saved


@pytest.fixture
async def nc(nats_server: Server) -> AsyncIterator[kvnb.client.NATS]:
    conn = await kvnb.connect(nats_server.url)
    try:
        yield conn
    finally:
        await kvnb.client.close_connection(conn)


@pytest.fixture
def bucket_name(request: pytest.FixtureRequest) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40]
    return f"t{next(_names)}_{safe}"


@pytest.fixture
async def kv(nc: kvnb.client.NATS, bucket_name: str) -> AsyncIterator[kvnb.KV]:
    bucket = await kvnb.open_bucket(bucket_name, history=10, nc=nc, fresh=True)
    try:
        yield bucket
    finally:
        try:
            await kvnb.delete_bucket(bucket_name, nc=nc)
        except kvnb.KvnbError:
            pass
