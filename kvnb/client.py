"""Connections to NATS that fail fast and clearly, and recover fast after a restart.

``await kvnb.connect()`` returns a plain nats-py client (``nats.aio.client.Client``), so
everything nats-py documents works on it. What kvnb changes:

- against an address where nothing listens it fails within ``timeout`` (2 s) with a
  :class:`~kvnb.errors.ConnectError` naming the URL, instead of nats-py's ~120 s of retries
  with a traceback each;
- reconnects are tried every 0.1 s forever, so a restarted server is back in milliseconds;
- the default connection (``url=None``) is shared per event loop and follows the bundled
  server across :meth:`kvnb.Server.restart`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NATS

from .errors import ConnectError, InvalidOption
from .server import ExternalServer, Server, current_server

__all__ = ["NATS", "close_default_connection", "connect", "default_connection", "server_url"]

log = logging.getLogger("kvnb")
DEFAULT_TIMEOUT = 2.0
_defaults: dict[asyncio.AbstractEventLoop, NATS] = {}


def server_url() -> str:
    """The URL kvnb uses by default: ``NATS_URL``, else the running bundled server."""
    server = current_server()
    if server is None:
        raise ConnectError(
            "no NATS server to connect to: none was started and NATS_URL is not set. "
            "Fix: run kvnb.start_server() first, or set NATS_URL=nats://host:4222."
        )
    return server.url


def _split_urls(url: str) -> list[str]:
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls:
        raise InvalidOption(f"empty NATS URL {url!r}. Example: nats://127.0.0.1:4222")
    for u in urls:
        parts = urlsplit(u if "://" in u else f"nats://{u}")
        if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
            raise InvalidOption(
                f"malformed NATS URL {u!r}: it needs a scheme nats://, tls://, ws:// or wss:// and a host. "
                "Example: nats://127.0.0.1:4222 (several: separate them with commas)."
            )
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise InvalidOption(f"malformed NATS URL {u!r}: the port is not a number from 1 to 65535. Example: nats://127.0.0.1:4222") from None
    return urls


def _probe(urls: list[str], timeout: float) -> str | None:
    """Why no URL accepts a TCP connection (None if one does): fails in ms on a refused port."""
    reasons = []
    for u in urls:
        parts = urlsplit(u if "://" in u else f"nats://{u}")
        if parts.scheme in ("ws", "wss"):
            return None
        try:
            with socket.create_connection((parts.hostname, parts.port or 4222), timeout=timeout):
                return None
        except OSError as err:
            reasons.append(f"{parts.hostname}:{parts.port or 4222}: {err.strerror or err}")
    return "; ".join(reasons)


async def connect(url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, name: str = "kvnb",
                  **options: Any) -> NATS:
    """Connect to NATS and return a nats-py client.

    ``url`` defaults to ``NATS_URL`` or the bundled server; several URLs may be given comma
    separated. Other keyword arguments go to ``nats.connect`` (``user``, ``password``, ``token``,
    ``user_credentials``, ``tls``, ``inbox_prefix`` ...). Raises :class:`ConnectError` within
    ``timeout`` seconds when nothing answers or the server refuses the login.
    """
    target = url if url is not None else server_url()
    urls = _split_urls(target)
    started = time.monotonic()
    refused = await asyncio.get_running_loop().run_in_executor(None, _probe, urls, timeout)
    if refused:
        raise ConnectError(
            f"cannot connect to {target}: {refused}. Fix: start a server (kvnb.start_server()), "
            "check NATS_URL, or run `kvnb doctor`."
        )
    last_error: list[BaseException] = []
    user_error_cb = options.pop("error_cb", None)

    async def error_cb(err: BaseException) -> None:
        # nats-py reports every failed attempt here; keep the last for the error message
        # instead of printing a traceback per retry.
        last_error[:] = [err]
        log.debug("nats error: %r", err)
        if user_error_cb is not None:
            await user_error_cb(err)

    listeners: list[Callable[[], Awaitable[None]]] = []
    user_reconnected_cb = options.pop("reconnected_cb", None)

    async def reconnected_cb() -> None:
        for listener in list(listeners):
            try:
                await listener()
            except Exception:  # one broken listener must not stop the others
                log.exception("reconnect listener failed")
        if user_reconnected_cb is not None:
            await user_reconnected_cb()

    settings: dict[str, Any] = {
        "servers": urls,
        "name": name,
        "connect_timeout": timeout,
        "reconnect_time_wait": 0.1,
        "max_reconnect_attempts": -1,
        "error_cb": error_cb,
        "reconnected_cb": reconnected_cb,
    }
    settings.update(options)
    remaining = max(0.1, timeout - (time.monotonic() - started))
    nc = NATS()
    try:
        await asyncio.wait_for(nc.connect(**settings), timeout=remaining)
    except (TimeoutError, OSError, nats.errors.Error) as err:
        await _quiet_close(nc)
        why = last_error[0] if last_error else err
        text = str(why) or type(why).__name__
        hint = "check the user, password, token or credentials file" if "uthoriz" in text else \
            "check that a NATS server listens there and speaks NATS (not TLS-only or another protocol)"
        raise ConnectError(f"cannot connect to {target}: {text}. Fix: {hint}.") from None
    nc._kvnb_reconnect_listeners = listeners  # type: ignore[attr-defined]
    server = current_server()
    nc._kvnb_generation = server.generation if server is not None else 0  # type: ignore[attr-defined]
    nc._kvnb_reconnects_seen = 0  # type: ignore[attr-defined]
    return nc


async def _quiet_close(nc: NATS) -> None:
    try:
        await asyncio.wait_for(nc.close(), timeout=1.0)
    except Exception:
        pass


def add_reconnect_listener(nc: NATS, listener: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Call ``listener`` after each reconnect of a kvnb connection; returns a function that removes it."""
    listeners: list[Callable[[], Awaitable[None]]] | None = getattr(nc, "_kvnb_reconnect_listeners", None)
    if listeners is None:  # a client made by nats.connect(), not kvnb.connect(): the watchdog still resumes
        listeners = []
    listeners.append(listener)

    def remove() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return remove


async def default_connection() -> NATS:
    """The shared connection of this event loop to the default server (made on first use)."""
    loop = asyncio.get_running_loop()
    url = server_url()
    nc = _defaults.get(loop)
    if nc is not None and (nc.is_closed or _connected_url(nc) not in (None, *_split_urls(url))):
        await _quiet_close(nc)
        nc = None
    if nc is None:
        nc = await connect(url)
        _defaults[loop] = nc
    return nc


def _connected_url(nc: NATS) -> str | None:
    server = getattr(nc, "_current_server", None)
    uri = getattr(server, "uri", None)
    if uri is None:
        return None
    return f"{uri.scheme}://{uri.hostname}:{uri.port}"


async def ensure_fresh(nc: NATS, *, timeout: float = 3.0) -> None:
    """After a blocking :meth:`Server.restart`, wait until ``nc`` has reconnected.

    A restart made while the event loop was blocked leaves the client unaware that its socket
    died; its next request would be written into the dead socket and time out after 5 s. The
    server's generation counter tells that a restart happened; then wait for the reconnect.
    """
    server = current_server()
    seen = getattr(nc, "_kvnb_generation", None)
    if seen is None or server is None or server.generation == seen or isinstance(server, ExternalServer):
        return
    if isinstance(server, Server) and _connected_url(nc) not in (None, server.url):
        return
    reconnects = getattr(nc, "_kvnb_reconnects_seen", 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if nc.stats["reconnects"] > reconnects and nc.is_connected:
            break
        await asyncio.sleep(0.005)
    nc._kvnb_generation = server.generation  # type: ignore[attr-defined]
    nc._kvnb_reconnects_seen = nc.stats["reconnects"]  # type: ignore[attr-defined]


async def close_default_connection() -> None:
    """Close this event loop's shared connection, if any."""
    nc = _defaults.pop(asyncio.get_running_loop(), None)
    if nc is not None:
        await _quiet_close(nc)
