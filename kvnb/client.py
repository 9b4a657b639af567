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
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NATS

from . import permissions
from .errors import ConnectError, InvalidOption
from .server import current_server, server_at, server_starts

__all__ = ["NATS", "close_connection", "close_default_connection", "connect", "default_connection", "server_url"]

log = logging.getLogger("kvnb")
DEFAULT_TIMEOUT = 2.0
_defaults: dict[asyncio.AbstractEventLoop, NATS] = {}
# Errors that retrying cannot fix: give up at once instead of at the timeout.
_FATAL = ("authoriz", "authentica", "permissions violation for connect", "certificate verify failed")


def server_url() -> str:
    """The URL kvnb uses by default: ``NATS_URL``, else the running bundled server."""
    server = current_server()
    if server is None:
        raise ConnectError(
            "no NATS server to connect to: none was started and NATS_URL is not set. "
            "Fix: run kvnb.start_server() first, or set NATS_URL=nats://host:4222."
        )
    return server.url


def _split_urls(url: object) -> list[str]:
    if not isinstance(url, str):
        raise InvalidOption(
            f"a NATS URL must be a str, got {type(url).__name__} {url!r}. Example: connect('nats://127.0.0.1:4222')"
        )
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls:
        raise InvalidOption(f"empty NATS URL {url!r}. Rule: scheme://host:port. Example: nats://127.0.0.1:4222")
    for u in urls:
        parts = urlsplit(u if "://" in u else f"nats://{u}")
        if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
            raise InvalidOption(
                f"malformed NATS URL {u!r}: it needs a scheme nats://, tls://, ws:// or wss:// and a host. "
                "Example: nats://127.0.0.1:4222 (several: separate them with commas)."
            )
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise InvalidOption(
                f"malformed NATS URL {u!r}: the port is not a number from 1 to 65535. Example: nats://127.0.0.1:4222"
            )
    return urls


def _probe(urls: list[str], timeout: float) -> str | None:
    """Why no URL accepts a TCP connection (None if one does): fails in ms on a refused port."""
    reasons = []
    deadline = time.monotonic() + timeout
    for u in urls:
        parts = urlsplit(u if "://" in u else f"nats://{u}")
        if parts.scheme in ("ws", "wss"):
            return None
        address = (parts.hostname, parts.port or 4222)
        try:
            with socket.create_connection(address, timeout=max(0.05, deadline - time.monotonic())):
                return None
        except OSError as err:
            reasons.append(f"{address[0]}:{address[1]}: {err.strerror or err or type(err).__name__}")
    return "; ".join(reasons)


async def connect(url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT, name: str = "kvnb",
                  **options: Any) -> NATS:
    """Connect to NATS and return a nats-py client.

    ``url`` defaults to ``NATS_URL`` or the bundled server; several URLs may be given comma
    separated. Other keyword arguments go to ``nats.connect`` (``user``, ``password``, ``token``,
    ``user_credentials``, ``tls``, ``inbox_prefix`` ...). Raises :class:`ConnectError` within
    ``timeout`` seconds when nothing answers or the server refuses the login.
    """
    # External deployments (NATS_URL or NATS_CONTEXT, plus NATS_USER, NATS_CREDS, NATS_CA ...): their
    # login and TLS settings apply when connecting to their URL; explicit keyword arguments win.
    from .deployments import resolve

    deployment = resolve()
    if deployment is not None and url in (None, deployment.url):
        url = deployment.url
        options = {**deployment.connect_options(), **options}
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
    refused_login: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
    user_error_cb = options.pop("error_cb", None)
    nc = NATS()

    async def error_cb(err: BaseException) -> None:
        # nats-py reports every failed attempt here; keep the last for the error message
        # instead of printing a traceback per retry.
        last_error[:] = [err]
        log.debug("nats error: %r", err)
        # A denied publish is never answered: tell the kvnb operation waiting on it now, not after 5 s.
        permissions.note(nc, err)
        if not nc.is_connected and not refused_login.done() and any(f in str(err).lower() for f in _FATAL):
            refused_login.set_result(err)  # nats-py would retry a refused login until the timeout
        if user_error_cb is not None:
            await user_error_cb(err)

    listeners: list[Callable[[], Awaitable[None]]] = []
    user_reconnected_cb = options.pop("reconnected_cb", None)

    async def reconnected_cb() -> None:
        nc._kvnb_connected_at = time.monotonic()  # type: ignore[attr-defined]
        permissions.guard(nc).reset()  # the server checks the inbox subscription again
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
    attempt = asyncio.ensure_future(nc.connect(**settings))
    try:
        await asyncio.wait({attempt, refused_login}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        if not attempt.done():
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt
            raise refused_login.result() if refused_login.done() else TimeoutError()
        attempt.result()
    except (TimeoutError, OSError, nats.errors.Error) as err:
        await _quiet_close(nc)
        why = refused_login.result() if refused_login.done() else last_error[0] if last_error else err
        text = str(why) or type(why).__name__
        raise ConnectError(f"cannot connect to {target}: {text}. Fix: {_connect_hint(why, text)}.") from None
    finally:
        refused_login.cancel()
    nc._kvnb_reconnect_listeners = listeners  # type: ignore[attr-defined]
    nc._kvnb_connected_at = time.monotonic()  # type: ignore[attr-defined]
    return nc


def _connect_hint(why: BaseException, text: str) -> str:
    """What to check, by the kind of failure: login, TLS, or nothing speaking NATS there."""
    if "uthori" in text or "uthenti" in text:
        return "check the user, password, token or credentials file"
    if isinstance(why, ssl.SSLError) or "SSL" in text or "certificate" in text.lower():
        return (
            "check the TLS settings: NATS_CA (or the nats context's \"ca\") must name the CA file that signed the "
            "server's certificate, and a server that verifies clients also needs NATS_CERT and NATS_KEY (context "
            "\"cert\" / \"key\"); or pass tls=ssl.create_default_context(cafile='ca.pem') to kvnb.connect()"
        )
    return "check that a NATS server listens there and speaks NATS (not TLS-only or another protocol)"


async def close_connection(nc: NATS, *, timeout: float = 2.0) -> None:
    """Close ``nc`` and never fail: for teardown after a server was killed or restarted.

    nats-py's close can trip over a transport that died while reconnecting: its ``wait_closed``
    then raises a stray CancelledError or hangs. A cancellation of the caller itself still propagates.
    """
    task = asyncio.current_task()
    try:
        await asyncio.wait_for(nc.close(), timeout)
    except asyncio.CancelledError:
        if task is not None and task.cancelling():
            raise
    except Exception:
        pass


_quiet_close = close_connection


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
    for old in [other for other in _defaults if other.is_closed()]:
        del _defaults[old]  # a finished asyncio.run() or test: its connection died with it
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
    died; its next request would be written into the dead socket and time out after 5 s. A
    connection (made by :func:`connect`) older than the kvnb server it talks to is stale: wait,
    briefly, for nats-py to notice and reconnect.
    """
    # Fast path (every put/get comes here): no kvnb server has started since nc was last found fresh.
    starts = server_starts()
    if getattr(nc, "_kvnb_fresh_at", None) == starts:
        return
    connected_at: float | None = getattr(nc, "_kvnb_connected_at", None)
    if connected_at is None:  # not made by kvnb.connect(): nothing to compare
        return
    url = _connected_url(nc)
    server = server_at(url) if url is not None else None
    if server is None or connected_at >= server.started_at:
        if url is not None:
            nc._kvnb_fresh_at = starts  # type: ignore[attr-defined]
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.002)
        if nc.is_connected and nc._kvnb_connected_at >= server.started_at:  # type: ignore[attr-defined]
            nc._kvnb_fresh_at = starts  # type: ignore[attr-defined]
            return


async def close_default_connection() -> None:
    """Close this event loop's shared connection, if any."""
    nc = _defaults.pop(asyncio.get_running_loop(), None)
    if nc is not None:
        await _quiet_close(nc)
