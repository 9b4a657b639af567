"""Permission denials told apart from a slow server, and reported at once.

nats-server does not answer a request whose subject the user may not publish to: it sends the
client an asynchronous ``-ERR 'Permissions Violation for Publish to "..."'``, which nats-py passes
to the connection's ``error_cb``, while the request itself just times out (5 s) with no reason.
:func:`kvnb.connect` hands every such error to :func:`note`. A kvnb operation registers the
subjects it is about to use (:meth:`Guard.enter`); when the server denies one of them, the
operation is cancelled at once and raises :class:`~kvnb.errors.PermissionDenied` naming the
subject and the fix.

Across accounts there is no violation at all, only "no responders": a bucket shared from another
account through ``js_prefix`` answers reads but nobody takes writes. :func:`no_stream` and
:func:`no_api` say so.

"No JetStream answered" has several causes that look alike from the client: a cluster electing a
leader, JetStream not enabled, missing access. :func:`unavailable_causes` orders them from what
the connection tells (the server's error code, its INFO, an earlier success) and
:func:`unavailable_message` words them.

Example::

    try:
        await kv.put("mode", "red")
    except kvnb.PermissionDenied as err:
        print(err.subject)               # $KV.cfg.mode
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import PermissionDenied, ServerError

__all__ = [
    "DEFAULT_JS_PREFIX", "Denial", "Guard", "guard", "no_api", "no_stream", "note", "permission_error",
    "unavailable_causes", "unavailable_message",
]

DEFAULT_JS_PREFIX = "$JS.API"
RECENT = 15.0  # seconds a publish denial explains a timed-out request on the same subject
_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "?([^"\s]+)"?', re.IGNORECASE)
# task_of(running_loop()) is asyncio.current_task(). That is a Python function on 3.11 (~0.2 µs of
# every put and get): look the task up in the C module's dict instead (3.11 gets no new features,
# so it stays). From 3.12 on current_task is C.
if sys.version_info >= (3, 12):
    task_of = asyncio.current_task
else:
    from asyncio.tasks import _current_tasks

    task_of = _current_tasks.get
running_loop = asyncio.get_running_loop
_LOGIN = "log in as a user who has it (NATS_USER / NATS_CREDS / NATS_CONTEXT, or connect(user=..., ...))"


@dataclass(frozen=True)
class Denial:
    """One permission violation the server reported on a connection."""

    action: str
    """``"publish"`` or ``"subscription"``."""
    subject: str
    """The denied subject as the server named it (nats-py lowercases the whole error line)."""
    at: float
    """``time.monotonic()`` when it arrived."""
    inbox_prefix: str | None = None
    """Set for a subscription to the connection's reply inbox (``_INBOX``): no request can get an answer."""


def _matches(denied: str, subject: str) -> bool:
    """``subject`` may end in ``>`` (a prefix); the comparison ignores case like nats-py's error text."""
    wanted = subject.lower()
    if wanted.endswith(">"):
        return denied.startswith(wanted[:-1])
    return denied == wanted


class Guard:
    """Per connection: recent denials and the kvnb operations in flight, by the subjects they use.

    An operation registers its task with :meth:`enter` and removes it with :meth:`leave`. The
    hot paths of :class:`kvnb.KV` (put, get, update) do the same inline, one Python call less
    each way (~0.2 µs, a few tenths of a percent of a concurrent put)::

        task = task_of(running_loop())
        guard.inflight[task] = subject     # one subject may be a plain str (no tuple to allocate)
        if guard.inbox_denial is not None:
            guard.enter((subject,))        # cancels the task at once
        try: ...
        finally:
            guard.inflight.pop(task, None)
            if guard.cancelled:
                guard.cancelled.pop(task, None)
    """

    __slots__ = ("_nc", "cancelled", "denials", "inbox_denial", "inflight", "js_ok")

    def __init__(self, nc: Any = None) -> None:
        self._nc = weakref.ref(nc) if nc is not None else None  # the connection owns the guard: no cycle
        self.js_ok = False
        """True once a JetStream request on this connection succeeded: JetStream is enabled for its account."""
        self.inflight: dict[asyncio.Task[Any], tuple[str, ...] | str] = {}
        """Tasks of the operations in flight -> the subjects they send to (a str: that one subject)."""
        self.cancelled: dict[asyncio.Task[Any], tuple[Denial, str]] = {}
        """Tasks this guard cancelled for a denial -> (denial, subject to name), until :meth:`take`."""
        self.denials: deque[Denial] = deque(maxlen=32)
        self.inbox_denial: Denial | None = None

    # --- operations in flight (enter/leave run on every operation: keep them tiny) ------------
    def enter(self, subjects: tuple[str, ...]) -> asyncio.Task[Any]:
        """Register the current task as using ``subjects``; pair with :meth:`leave`."""
        task = task_of(running_loop())
        assert task is not None
        self.inflight[task] = subjects
        if self.inbox_denial is not None:  # replies cannot reach this connection: fail now, not in 5 s
            self._cancel(task, self.inbox_denial, self.inbox_denial.subject)
        return task

    def leave(self, task: asyncio.Task[Any]) -> None:
        self.inflight.pop(task, None)
        if self.cancelled:
            self.cancelled.pop(task, None)

    def take(self, task: asyncio.Task[Any] | None) -> tuple[Denial, str] | None:
        """If this guard cancelled ``task`` for a denial: undo the cancel and return (denial, subject)."""
        if task is None:
            return None
        found = self.cancelled.pop(task, None)
        if found is not None:
            task.uncancel()
            if task.cancelling():  # someone else cancelled it too: their cancel wins
                return None
        return found

    def _cancel(self, task: asyncio.Task[Any], denial: Denial, subject: str) -> None:
        if task is not None and task not in self.cancelled and not task.done():
            self.cancelled[task] = (denial, subject)
            task.cancel()

    # --- what the server said -----------------------------------------------------------------
    def note(self, text: str, inbox_prefix: str = "_INBOX") -> Denial | None:
        """Record a permission violation from the server's error text; cancel the operations it dooms."""
        found = _VIOLATION.search(text)
        if found is None:
            return None
        action, subject = found.group(1).lower(), found.group(2).lower()
        inbox = action == "subscription" and subject.startswith(inbox_prefix.lower() + ".")
        denial = Denial(action=action, subject=subject, at=time.monotonic(),
                        inbox_prefix=inbox_prefix if inbox else None)
        self.denials.append(denial)
        if denial.inbox_prefix is not None:
            self.inbox_denial = denial
        for task, used in list(self.inflight.items()):
            if denial.inbox_prefix is not None:
                self._cancel(task, denial, subject)
                continue
            for wanted in (used,) if type(used) is str else used:
                if action == "publish" and _matches(subject, wanted):
                    self._cancel(task, denial, subject if wanted.endswith(">") else wanted)
                    break
        return denial

    def recent(self, subjects: tuple[str, ...]) -> tuple[Denial, str] | None:
        """A denial that explains a request on ``subjects`` timing out, with the subject to show."""
        if self.inbox_denial is not None:
            return self.inbox_denial, self.inbox_denial.subject
        now = time.monotonic()
        for denial in reversed(self.denials):
            if now - denial.at > RECENT:
                break
            for wanted in subjects:
                if denial.action == "publish" and _matches(denial.subject, wanted):
                    return denial, denial.subject if wanted.endswith(">") else wanted
        return None

    def reset(self) -> None:
        """Forget the inbox denial (after a reconnect the server checks the subscription again)."""
        self.inbox_denial = None

    @property
    def server_info(self) -> Mapping[str, Any]:
        """The INFO of the server the connection is on now ({} when unknown)."""
        return server_info(self._nc() if self._nc is not None else None)


def guard(nc: Any) -> Guard:
    """The :class:`Guard` of connection ``nc`` (made on first use)."""
    found: Guard | None = getattr(nc, "_kvnb_guard", None)
    if found is None:
        found = Guard(nc)
        nc._kvnb_guard = found
    return found


_guard_of = guard  # for functions whose ``guard`` argument hides this one


def note(nc: Any, err: BaseException) -> Denial | None:
    """Called from kvnb's ``error_cb``: record ``err`` if it is a permission violation."""
    text = str(err)
    if "permissions violation" not in text.lower():
        return None
    prefix = getattr(nc, "_inbox_prefix", None)
    inbox = bytes(prefix).decode() if isinstance(prefix, bytes | bytearray) else "_INBOX"
    return guard(nc).note(text, inbox)


# --- messages -------------------------------------------------------------------------------


def _allow(subject: str) -> str:
    """The rule an operator would add: a whole bucket for a key subject, else the subject itself."""
    if subject.upper().startswith("$KV."):
        parts = subject.split(".")
        if len(parts) >= 3:
            return f"$KV.{parts[1]}.>"
    return subject


def permission_error(what: str, denial: Denial, subject: str) -> PermissionDenied:
    """The error for an operation ``what`` that the server refused with ``denial``."""
    if denial.action == "subscription":
        inbox = denial.inbox_prefix or "_INBOX"
        return PermissionDenied(
            f"{what}: permission denied: your user may not subscribe to {subject!r}, the inbox where the server's "
            "replies arrive, so no request can get an answer. Rule: a NATS user needs subscribe permission on its "
            f"reply inbox to use JetStream and KV. Fix: ask the operator to allow subscribe to \"{inbox}.>\" "
            f"for your user (or connect with an inbox_prefix it may use), or {_LOGIN}.",
            subject=subject,
        )
    if subject.upper().startswith("$KV."):
        role = "writing key K of bucket B publishes to $KV.B.K"
    else:
        role = "opening, reading and watching a bucket send JetStream API requests to $JS.API.<request>.KV_<bucket>"
    return PermissionDenied(
        f"{what}: permission denied: your user may not publish to {subject!r}. Rule: the server checks every "
        f"subject against your user's permissions; {role}. Fix: ask the operator to allow publish to "
        f"\"{_allow(subject)}\" for your user (permissions {{ publish {{ allow: [...] }} }} in the server config), "
        f"or {_LOGIN}.",
        subject=subject,
    )


def no_stream(what: str, subject: str, bucket: str, js_prefix: str) -> PermissionDenied | None:
    """A write nobody took: for a bucket shared through ``js_prefix``, a permission matter (else None)."""
    if js_prefix == DEFAULT_JS_PREFIX:
        return None
    return PermissionDenied(
        f"{what}: permission denied: no stream in your account takes writes to {subject!r}. Bucket {bucket!r} was "
        f"opened through js_prefix={js_prefix!r}, so it belongs to another account, which shares it read-only "
        f"(its writes are not exported to you). Rule: you may only do what the owning account exports to yours. "
        f"Fix: write to a bucket of your own (open_bucket without js_prefix), or ask its owner to export "
        f"\"{_allow(subject)}\" to your account.",
        subject=subject,
    )


def no_api(what: str, js_prefix: str, err: BaseException | None = None, *, nc: Any = None,
           guard: Guard | None = None) -> ServerError:
    """No JetStream API answered (nats-py's ServiceUnavailableError, a 503 or no responders).

    ``err`` (its JetStream error code) and the connection (``nc``, or its ``guard``) tell which
    cause to name first: see :func:`unavailable_causes`.
    """
    if js_prefix != DEFAULT_JS_PREFIX:
        return PermissionDenied(
            f"{what}: permission denied: no JetStream API answered at {js_prefix!r}. That prefix reaches another "
            "account's buckets, and it does not export this request (this bucket, or this operation) to your "
            "account; a shared bucket is often read-only, or the prefix is misspelled. Rule: through another "
            "account you may only do what it exports to yours. Fix: check the js_prefix you were given, and "
            "leave js_prefix out for buckets of your own.",
            subject=js_prefix,
        )
    if guard is None and nc is not None:
        guard = _guard_of(nc)
    info = guard.server_info if guard is not None else server_info(nc)
    return ServerError(unavailable_message(
        what, err_code=getattr(err, "err_code", None), description=getattr(err, "description", None),
        server_info=info, js_ok=guard is not None and guard.js_ok,
    ))


# --- why no JetStream answered ---------------------------------------------------------------
# JetStream API error codes (nats-server's errors.json) that answer the question outright.
JS_TEMPORARILY_UNAVAILABLE = 10008  # "JetStream system temporarily unavailable": no meta leader (election, no majority)
JS_NOT_ENABLED = 10076  # "JetStream not enabled"
JS_NOT_ENABLED_FOR_ACCOUNT = 10039  # "JetStream not enabled for account"

CLUSTER_BUSY = (
    "the cluster's JetStream has no leader right now: an election runs after a node went down or is restarting, "
    "or too few nodes are up to elect one (a majority must run). Fix: retry in a few seconds "
    "(cluster.wait_healthy() waits until it works again); if it lasts, start the stopped nodes"
)
RESTARTING = "the server is stopped or restarting. Fix: check kvnb.current_server() (or run `kvnb doctor`), then retry"
NOT_ON_SERVER = (
    "JetStream is not enabled on this server. Fix: start nats-server with --jetstream (kvnb.start_server() does)"
)
NOT_FOR_ACCOUNT = (
    "JetStream is not enabled for your account. Fix: enable it for the account in the server config "
    "(jetstream: enabled), or log in as a user of an account that has it"
)
NOT_ENABLED = (
    "JetStream is not enabled on this server or for your account. Fix: start nats-server with --jetstream "
    "(kvnb.start_server() does), or enable it for the account in the server config (jetstream: enabled)"
)
NO_ACCESS = (
    "your user may not use the JetStream API (the server does not answer what it denies). Fix: ask the operator "
    f'to allow publish to "{DEFAULT_JS_PREFIX}.>" for your user, or {_LOGIN}'
)


def server_info(nc: Any) -> Mapping[str, Any]:
    """The INFO the server sent connection ``nc`` (nats-py keeps it in ``_server_info``); {} when unknown."""
    info = getattr(nc, "_server_info", None)
    return info if isinstance(info, Mapping) else {}


def unavailable_causes(*, timed_out: bool = False, err_code: int | None = None,
                       server_info: Mapping[str, Any] | None = None, js_ok: bool = False) -> list[str]:
    """Why no JetStream API answered, most likely first, each with its fix.

    - ``timed_out``: no answer at all (else a 503 answer, or "no responders");
    - ``err_code``: the JetStream error code of a 503 answer (decides it alone when known);
    - ``server_info``: the INFO of the server the connection is on: ``cluster`` is set on a cluster
      node, ``jetstream`` is true only where JetStream runs;
    - ``js_ok``: a JetStream request succeeded on this connection before: JetStream is enabled.
    """
    if err_code == JS_TEMPORARILY_UNAVAILABLE:
        return [CLUSTER_BUSY]
    if err_code == JS_NOT_ENABLED:
        return [NOT_ON_SERVER]
    if err_code == JS_NOT_ENABLED_FOR_ACCOUNT:
        return [NOT_FOR_ACCOUNT]
    info = server_info or {}
    server_js = bool(info.get("jetstream")) if info else None  # None: no INFO, cannot tell
    if server_js is False and not js_ok:
        return [NOT_ON_SERVER]
    causes = []
    if info.get("cluster"):
        causes.append(CLUSTER_BUSY)
    if timed_out or js_ok:  # a server that answered before and now does not is going away or coming back
        causes.append(RESTARTING)
    if not js_ok:
        # A server with JetStream answers an account without it with 10039, not silence: then only access is left.
        if server_js is None:
            causes.append(NOT_ENABLED)
        elif not timed_out:
            causes.append(NOT_FOR_ACCOUNT)
    causes.append(NO_ACCESS)
    return causes


def unavailable_message(what: str, *, timed_out: bool = False, err_code: int | None = None,
                        description: str | None = None, server_info: Mapping[str, Any] | None = None,
                        js_ok: bool = False) -> str:
    """The text of the error for ``what`` when no JetStream API answered (arguments: :func:`unavailable_causes`)."""
    causes = unavailable_causes(timed_out=timed_out, err_code=err_code, server_info=server_info, js_ok=js_ok)
    if err_code is not None:
        head = f"the server answered {description or 'unavailable'!r} (JetStream error {err_code})"
    elif timed_out:
        head = "the server did not answer in time"
    else:
        head = "no JetStream API answered"
    if len(causes) == 1:
        return f"{what}: {head}: {causes[0]}."
    listed = " ".join(f"({i}) {cause}." for i, cause in enumerate(causes, 1))
    return f"{what}: {head}. Likely causes, most likely first: {listed}"
