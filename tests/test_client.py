"""kvnb.connect and the default connection, against real nats-servers."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import kvnb
from kvnb.client import default_connection
from kvnb.server import Server, launch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def default_server() -> AsyncIterator[Server]:
    """The bundled default server (kvnb.start_server()), stopped after the test."""
    server = kvnb.start_server()
    assert isinstance(server, Server)
    try:
        yield server
    finally:
        await kvnb.close_default_connection()
        kvnb.stop_server()


async def test_first_connect_to_a_fresh_server() -> None:
    with launch() as server:
        nc = await kvnb.connect(server.url)
        try:
            assert nc.is_connected
            assert nc.connected_url.port == server.port
            await nc.flush(1)
        finally:
            await kvnb.client.close_connection(nc)


async def test_dead_address_fails_fast_naming_the_url() -> None:
    url = f"nats://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(kvnb.ConnectError) as err:
        await kvnb.connect(url)
    assert time.monotonic() - started < 2.0
    assert url in str(err.value)
    assert "Fix:" in str(err.value)


async def test_dead_address_among_several_names_each() -> None:
    a, b = f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"
    with pytest.raises(kvnb.ConnectError) as err:
        await kvnb.connect(f"nats://{a},nats://{b}")
    assert a in str(err.value) and b in str(err.value)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:4222",      # wrong scheme
    "nats://",                    # no host
    "nats://127.0.0.1:port",      # port not a number
    "nats://127.0.0.1:99999",     # port out of range
    "nats://127.0.0.1:0",         # port 0
    "",                           # empty
    " , ",                        # only separators
    4222,                         # not a str
])
async def test_malformed_urls(url: object) -> None:
    with pytest.raises(kvnb.InvalidOption) as err:
        await kvnb.connect(url)  # type: ignore[arg-type]
    assert "Example: nats://127.0.0.1:4222" in str(err.value) or "Example: connect('nats://" in str(err.value)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    config = tmp_path_factory.mktemp("auth") / "auth.conf"
    config.write_text('authorization { user: alice, password: "wonderland" }\n')
    with launch(config_file=config, name="kvnb-auth") as server:
        yield server  # type: ignore[misc]


@pytest.mark.parametrize("creds", [{}, {"user": "alice", "password": "wrong"}])
async def test_wrong_credentials_fail_fast(auth_server: Server, creds: dict[str, str]) -> None:
    started = time.monotonic()
    with pytest.raises(kvnb.ConnectError) as err:
        await kvnb.connect(auth_server.url, timeout=10, **creds)
    # A refused login is final: kvnb reports it at once instead of retrying until the timeout.
    assert time.monotonic() - started < 5
    text = str(err.value)
    assert "Authorization" in text
    assert auth_server.url in text
    assert "password" in text  # the fix names what to check


async def test_right_credentials_work(auth_server: Server) -> None:
    nc = await kvnb.connect(auth_server.url, user="alice", password="wonderland")
    try:
        kv = await kvnb.open_bucket("authed", nc=nc)
        rev = await kv.put("k", "v")
        assert (await kv.get("k")).revision == rev
    finally:
        await kvnb.client.close_connection(nc)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A TLS server whose certificate is self-signed (made now): no client's CA list trusts it."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "server.key", "-out", "server.pem", "-days", "1", "-subj", "/CN=kvnb-test",
                    "-addext", "subjectAltName=IP:127.0.0.1"], cwd=d, check=True, capture_output=True, timeout=30)
    cert, key = (json.dumps(str(d / name)) for name in ("server.pem", "server.key"))
    (d / "tls.conf").write_text(f"tls {{ cert_file: {cert}, key_file: {key} }}\n")
    with launch(config_file=d / "tls.conf", name="kvnb-tls") as server:
        yield server


async def test_an_untrusted_certificate_names_the_tls_settings(tls_server: Server) -> None:
    for url in (tls_server.url.replace("nats://", "tls://"), tls_server.url):  # nats:// upgrades to TLS too
        with pytest.raises(kvnb.ConnectError) as err:
            await asyncio.wait_for(kvnb.connect(url, timeout=10), 5)  # a bad certificate is final: no retries
        text = str(err.value)
        assert "CERTIFICATE_VERIFY_FAILED" in text and url in text
        assert "Fix: check the TLS settings: NATS_CA" in text
        assert "NATS_CERT and NATS_KEY" in text and "tls=ssl.create_default_context(cafile=" in text
        assert "check that a NATS server listens there" not in text  # one does: the generic fix misleads


def test_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(kvnb.InvalidOption, match="config_file"):
        launch(config_file=tmp_path / "missing.conf")


async def test_no_server_and_no_nats_url() -> None:
    kvnb.stop_server()
    with pytest.raises(kvnb.ConnectError, match="start_server"):
        await kvnb.connect()


async def test_nats_url_is_the_default(nats_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", nats_server.url)
    nc = await kvnb.connect()
    try:
        assert nc.connected_url.port == nats_server.port
    finally:
        await kvnb.client.close_connection(nc)


async def test_default_connection_is_shared(default_server: Server) -> None:
    first = await default_connection()
    assert await default_connection() is first
    assert first.connected_url.port == default_server.port


async def test_default_connection_follows_the_server_after_fresh(default_server: Server) -> None:
    first = await default_connection()
    replaced = kvnb.start_server(fresh=True)
    nc = await default_connection()
    assert nc is not first
    assert nc.connected_url.port == replaced.port  # type: ignore[union-attr]


async def test_default_connection_follows_a_restart(default_server: Server) -> None:
    kv = await kvnb.open_bucket("restarts", history=5)
    before = await kv.put("k", "1")
    default_server.restart()  # blocks the loop, as a notebook cell does
    # Without kvnb's check this put went into the dead socket and timed out after 5 s.
    after = await asyncio.wait_for(kv.put("k", "2"), 2)
    assert after > before
    assert (await asyncio.wait_for(kv.get("k"), 2)).text == "2"


async def test_a_connection_to_a_launched_server_follows_its_restart(tmp_path: Path) -> None:
    with launch(store_dir=tmp_path / "s") as server:
        nc = await kvnb.connect(server.url)
        try:
            kv = await kvnb.open_bucket("b", nc=nc)
            await kv.put("k", "1")
            server.kill()
            server.restart()
            assert await asyncio.wait_for(kv.put("k", "2"), 2) > 0
        finally:
            await kvnb.client.close_connection(nc)


async def test_user_callbacks_still_called() -> None:
    errors: list[BaseException] = []
    reconnects: list[bool] = []

    async def on_error(err: BaseException) -> None:
        errors.append(err)

    async def on_reconnect() -> None:
        reconnects.append(True)

    with launch() as server:
        nc = await kvnb.connect(server.url, error_cb=on_error, reconnected_cb=on_reconnect)
        try:
            server.restart()
            for _ in range(200):
                if reconnects:
                    break
                await asyncio.sleep(0.01)
            assert reconnects
            assert errors, "the caller's error_cb did not hear about the lost connection"
        finally:
            await kvnb.client.close_connection(nc)


async def test_memory_server_makes_memory_buckets(default_server: Server) -> None:
    kvnb.stop_server()
    kvnb.start_server(memory=True)
    kv = await kvnb.open_bucket("m")
    assert (await kv.info()).storage == "memory"
    explicit = await kvnb.open_bucket("f", storage="file")
    assert (await explicit.info()).storage == "file"


class _CloseRaises:
    """Stands in for a client whose close() trips over nats-py's teardown race (only close() exists)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def close(self) -> None:
        raise self.exc


class _CloseHangs:
    async def close(self) -> None:
        await asyncio.sleep(30)


async def test_close_connection_swallows_a_stray_cancel_from_the_teardown() -> None:
    await kvnb.client.close_connection(_CloseRaises(asyncio.CancelledError()))  # type: ignore[arg-type]
    await kvnb.client.close_connection(_CloseRaises(OSError("reset")))  # type: ignore[arg-type]


async def test_close_connection_still_lets_the_caller_be_cancelled() -> None:
    task = asyncio.ensure_future(kvnb.client.close_connection(_CloseHangs()))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_close_connection_after_the_server_was_killed(tmp_path) -> None:
    with kvnb.server.launch(store_dir=tmp_path / "store") as server:
        nc = await kvnb.connect(server.url)
        server.kill()
        await asyncio.wait_for(kvnb.client.close_connection(nc), 5)
        assert nc.is_closed
