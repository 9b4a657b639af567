"""Live exercise progress in a classroom: every self-check is recorded, the instructor sees a board.

Learner side: inside a classroom (``NATS_URL`` set with a login: ``NATS_NKEY_SEED``, ``NATS_NKEY``,
``NATS_CREDS`` or ``NATS_USER``), each ``kvnb.checks.<exercise>(...)`` call records its result in the
participant's **own** account, bucket ``progress``, key ``<exercise>``: a JSON record with
``status`` ("passed" / "not yet"), ``passed`` (ever), ``attempts`` and ``time``. Recording happens
in the background after the check has returned or raised; it never delays the check, never changes
its result, and never shows the learner an error (failures are logged at debug level only).
``KVNB_PROGRESS=0`` turns it off. It is self-reported, like the check itself: a progress board, not
a grade book.

Instructor side: :class:`ProgressBoard` watches every participant's ``progress`` bucket through the
instructor's account (``$JS.<user>.API``) and shows participants × exercises, live::

    board = ProgressBoard(nc, ["p1", "p2"])   # nc: the instructor's connection
    board                                     # in a notebook: the live table
    await board.refresh()                     # {"p1": {"rooms_stored": "passed"}, "p2": {}}
    await board.stop()                        # the last picture stays on the page

A participant cannot read anyone else's progress: each bucket lives in its owner's account.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import inspect
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .widgets import _html
from .widgets._frozen import FrozenPicture

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from .bucket import KV
    from .watch import Watch

__all__ = ["BUCKET", "NOT_YET", "PASSED", "UNTRIED", "ProgressBoard", "exercises", "instrument", "record", "recording"]

log = logging.getLogger("kvnb.progress")
BUCKET = "progress"
PASSED, NOT_YET, UNTRIED = "passed", "not yet", "untried"
OFF_VAR = "KVNB_PROGRESS"
_LOGINS = ("NATS_NKEY_SEED", "NATS_NKEY", "NATS_CREDS", "NATS_USER")
RECORD_TIMEOUT = 5.0  # seconds one record may take in the background before it is dropped
QUEUE_LIMIT = 200  # records waiting to be written; beyond that new ones are dropped, never the check


# --- learner side: recording ------------------------------------------------------------------------

def recording() -> bool:
    """True inside a classroom: a NATS deployment with a login, and ``KVNB_PROGRESS`` not ``0``."""
    env = os.environ
    return env.get(OFF_VAR, "1") != "0" and bool(env.get("NATS_URL")) and any(env.get(v) for v in _LOGINS)


@dataclass
class _Attempt:
    exercise: str
    title: str
    passed: bool
    at: float


_queues: dict[asyncio.AbstractEventLoop, asyncio.Queue[_Attempt]] = {}
_workers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def _note(exercise: str, title: str, passed: bool) -> None:
    """Queue one attempt for the background writer; returns at once and never raises."""
    try:
        if not recording():
            return
        attempt = _Attempt(exercise, title, passed, time.time())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a plain script calling a sync check: a short-lived thread of its own
            threading.Thread(target=_record_in_thread, args=(attempt,), daemon=True, name="kvnb-progress").start()
            return
        queue = _queues.get(loop)
        worker = _workers.get(loop)
        if queue is None or worker is None or worker.done():
            for old in [lp for lp in _queues if lp.is_closed()]:
                _queues.pop(old, None)
                _workers.pop(old, None)
            queue = _queues[loop] = asyncio.Queue(QUEUE_LIMIT)
            _workers[loop] = loop.create_task(_drain(queue), name="kvnb-progress")
        queue.put_nowait(attempt)
    except Exception as err:  # a full queue, a closing loop: the check's result matters, not the record
        log.debug("progress not recorded: %r", err)


async def _drain(queue: asyncio.Queue[_Attempt]) -> None:
    """Write queued attempts in order, on the kernel's own default connection."""
    kv: KV | None = None
    while True:
        attempt = await queue.get()
        try:
            if kv is None:
                kv = await asyncio.wait_for(_open(None), RECORD_TIMEOUT)
            await asyncio.wait_for(_write(kv, attempt), RECORD_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.debug("progress not recorded: %r", err)
            kv = None  # open again next time: the connection or the bucket may have changed


def _record_in_thread(attempt: _Attempt) -> None:
    async def once() -> None:
        from .client import close_connection, connect

        nc = await connect()
        try:
            await _write(await _open(nc), attempt)
        finally:
            await close_connection(nc)

    try:
        asyncio.run(asyncio.wait_for(once(), RECORD_TIMEOUT))
    except Exception as err:
        log.debug("progress not recorded: %r", err)


async def _open(nc: NATS | None) -> KV:
    from .bucket import open_bucket
    from .client import default_connection

    conn = nc if nc is not None else await default_connection()
    return await open_bucket(BUCKET, nc=conn)  # made on first use: one small value per exercise, history 1


async def _write(kv: KV, attempt: _Attempt) -> None:
    """Add one attempt to the exercise's record (compare-and-set: two kernels may check at once)."""
    from .errors import Conflict, KeyDeleted, KeyNotFound

    for _ in range(5):
        try:
            entry = await kv.get(attempt.exercise)
            record, last = json.loads(entry.text or "{}"), entry.revision
        except (KeyNotFound, KeyDeleted, ValueError):
            record, last = {}, None
        ever = bool(record.get("passed")) or attempt.passed
        record.update(exercise=attempt.exercise, title=attempt.title, status=PASSED if attempt.passed else NOT_YET,
                      passed=ever, attempts=int(record.get("attempts", 0)) + 1, time=attempt.at,
                      user=os.environ.get("KVNB_CLASSROOM_USER") or os.environ.get("JUPYTERHUB_USER") or "")
        if ever and "first_passed" not in record:
            record["first_passed"] = attempt.at
        value = json.dumps(record)
        try:
            if last is None:
                await kv.create(attempt.exercise, value)
            else:
                await kv.update(attempt.exercise, value, last=last)
            return
        except Conflict:
            continue


async def record(exercise: str, passed: bool, *, nc: NATS | None = None, title: str | None = None) -> None:
    """Record one attempt at ``exercise`` now, in the account ``nc`` logs in to (default: the kernel's).

    What every check does in the background; call it yourself to simulate participants (a demo, a
    benchmark). Unlike the background recording, errors here are raised.
    """
    await _write(await _open(nc), _Attempt(exercise, title or exercise, passed, time.time()))


def _title(result: Any, fallback: str) -> str:
    return str(getattr(result, "exercise", "") or fallback)


def recorded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a check) that also records each call's outcome; the result and errors are unchanged."""
    from .checks._core import NotYet, Passed

    name = fn.__name__
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_check(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await fn(*args, **kwargs)
            except NotYet as err:
                _note(name, err.exercise, False)
                raise
            except Exception:
                _note(name, name, False)  # a crash is not a pass either
                raise
            _note(name, _title(result, name), isinstance(result, Passed))
            return result

        async_check._kvnb_recorded = True  # type: ignore[attr-defined]
        return async_check

    @functools.wraps(fn)
    def check(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except NotYet as err:
            _note(name, err.exercise, False)
            raise
        except Exception:
            _note(name, name, False)
            raise
        _note(name, _title(result, name), isinstance(result, Passed))
        return result

    check._kvnb_recorded = True  # type: ignore[attr-defined]
    return check


def instrument(namespace: dict[str, Any], names: list[str]) -> None:
    """Wrap every check named in ``names`` in ``namespace`` (``kvnb.checks``) with :func:`recorded`."""
    for name in names:
        fn = namespace.get(name)
        if inspect.isfunction(fn) and not getattr(fn, "_kvnb_recorded", False):
            namespace[name] = recorded(fn)


_EXERCISE_NO = re.compile(r"Exercise (\d+)\.(\d+)")


def exercises() -> list[tuple[str, str]]:
    """Every check as ``(name, short label)`` in course order (from "Exercise N.M" in its docstring)."""
    from . import checks

    found = []
    for name in checks.__all__:
        fn = getattr(checks, name)
        if not inspect.isfunction(fn):
            continue
        m = _EXERCISE_NO.search(inspect.getdoc(fn) or "")
        order = (int(m[1]), int(m[2])) if m else (99, 0)
        found.append((order, name, f"{m[1]}.{m[2]}" if m else name))
    return [(name, label) for _, name, label in sorted(found)]


# --- instructor side: the board ----------------------------------------------------------------------

def status_of(record: dict[str, Any] | None) -> str:
    """The board's word for one record: "passed" once ever passed, "not yet" when tried, else "untried"."""
    if not record:
        return UNTRIED
    return PASSED if record.get("passed") else NOT_YET


def render_board(rows: dict[str, dict[str, dict[str, Any]]], errors: dict[str, str],
                 columns: list[tuple[str, str]], *, note: str = "") -> str:
    """HTML: participants × exercises, attempts in each cell, and a last row counting who is stuck."""
    colors = {PASSED: "#1b7f3b", NOT_YET: "#b35900", UNTRIED: "#999"}
    marks = {PASSED: "passed", NOT_YET: "not yet", UNTRIED: "–"}  # words: no symbol font needed
    head = "".join(f"<th title='{html.escape(name)}' style='padding:0 5px'>{html.escape(label)}</th>"
                   for name, label in columns)
    # One line per participant however many exercises: the table scrolls sideways instead of wrapping.
    out = ["<div class='kvnb-progress' style='overflow-x:auto'>", note,
           "<table style='border-collapse:collapse;font-size:12px;white-space:nowrap'>",
           f"<tr><th>participant</th>{head}<th>passed</th></tr>"]
    stuck = dict.fromkeys((n for n, _ in columns), 0)
    for user, records in rows.items():
        cells = []
        passed = 0
        if user in errors:
            cells.append(f"<td colspan='{len(columns) + 1}' style='color:#b00'>{html.escape(errors[user])}</td>")
        else:
            for name, _ in columns:
                record = records.get(name)
                status = status_of(record)
                passed += status == PASSED
                stuck[name] += status == NOT_YET
                tries = f" {int(record.get('attempts', 0))}" if record else ""
                cells.append(f"<td class='kvnb-progress-{status.replace(' ', '-')}' title='{status}{tries} attempts' "
                             f"style='color:{colors[status]};text-align:center;padding:0 6px;white-space:nowrap'>"
                             f"{marks[status]}{tries}</td>")
            cells.append(f"<td style='text-align:right'>{passed}/{len(columns)}</td>")
        out.append(f"<tr><td class='kvnb-progress-user'>{html.escape(user)}</td>{''.join(cells)}</tr>")
    summary = "".join(f"<td style='text-align:center;color:{'#b35900' if stuck[n] else '#999'}'>{stuck[n]}</td>"
                      for n, _ in columns)
    out.append(f"<tr style='border-top:1px solid #ccc'><td><b>stuck</b></td>{summary}<td></td></tr>")
    out.append("</table><div style='font-size:11px;color:#666'>passed · not yet (tried, not passed) · "
               "– untried; the number is attempts. <b>stuck</b>: participants who tried and have not passed.</div>"
               "</div>")
    return _html.root("progressboard", "exercise progress", "".join(out))


class ProgressBoard(FrozenPicture):
    """Every participant's exercise progress, live (instructor connection ``nc``).

    One watch per participant on their ``progress`` bucket (through ``$JS.<user>.API``); a
    participant who has not checked anything yet has no bucket, and is looked for again every
    ``retry`` seconds. Display the board in a notebook; :meth:`refresh` returns the table as
    ``{user: {exercise: "passed" | "not yet"}}``; :meth:`stop` ends the watches and keeps the picture.
    """

    def __init__(self, nc: NATS, participants: list[str], *, retry: float = 1.0, autostart: bool = True) -> None:
        import ipywidgets

        from .classroom import prepare_instructor

        if isinstance(participants, str) or not all(isinstance(p, str) for p in participants):
            from .errors import InvalidInput

            raise InvalidInput(f"participants must be a list of user names like ['p1', 'p2'], got {participants!r}.")
        self.nc = prepare_instructor(nc, list(participants))
        self.participants = list(participants)
        self.retry = retry
        self.columns = exercises()
        self.records: dict[str, dict[str, dict[str, Any]]] = {u: {} for u in self.participants}
        self.errors: dict[str, str] = {}
        self.updates = 0
        self.widget = ipywidgets.HTML(value=self._html())
        self._watches: dict[str, Watch] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._autostart = autostart
        self._render_pending = False
        self._locks = {u: asyncio.Lock() for u in self.participants}
        self._wake = {u: asyncio.Event() for u in self.participants}
        self._init_frozen()  # stopped, display ids, stop_widgets() reaches it

    # --- state ------------------------------------------------------------------------------------
    def table(self) -> dict[str, dict[str, str]]:
        """``{user: {exercise: status}}`` for every exercise a participant has tried."""
        return {u: {name: status_of(rec) for name, rec in self.records[u].items()} for u in self.participants}

    def stuck(self) -> dict[str, int]:
        """Per exercise: how many participants tried and have not passed."""
        return {name: sum(status_of(self.records[u].get(name)) == NOT_YET for u in self.participants)
                for name, _ in self.columns}

    def _html(self, note: str = "") -> str:
        extra = sorted({n for recs in self.records.values() for n in recs} - {n for n, _ in self.columns})
        self.columns += [(n, n) for n in extra]  # records of checks this kvnb does not know (newer course)
        return render_board(self.records, self.errors, self.columns, note=note)

    def _render(self) -> None:
        self._render_pending = False
        if self._stopped:
            return
        text = self._html()
        if text != self.widget.value:
            self.widget.value = text

    def _changed(self) -> None:
        # At most ~10 renders a second, however many records arrive at once.
        self.updates += 1
        if not self._render_pending:
            self._render_pending = True
            asyncio.get_running_loop().call_later(0.1, self._render)

    # --- watching ---------------------------------------------------------------------------------
    def start(self) -> ProgressBoard:
        """Start watching (display does it for you)."""
        if not self._tasks and not self._stopped:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._follow(u), name=f"kvnb-progress-{u}") for u in self.participants]
        return self

    async def _start_watch(self, user: str) -> Watch | None:
        async with self._locks[user]:
            if user in self._watches:
                return self._watches[user]
            watch = await self._new_watch(user)
            if watch is not None:
                self._watches[user] = watch
                self._wake[user].set()
            return watch

    async def _new_watch(self, user: str) -> Watch | None:
        from .classroom import participant_js_prefix
        from .errors import BucketNotFound
        from .watch import Watch

        watch = Watch(self.nc, bucket=BUCKET, js_prefix=participant_js_prefix(user), flow_control=False)
        try:
            await asyncio.wait_for(watch.start(), 5)
        except (BucketNotFound, TimeoutError):
            with contextlib.suppress(Exception):
                await watch.stop()
            return None
        return watch

    async def _follow(self, user: str) -> None:
        while not self._stopped:
            try:
                watch = self._watches.get(user) or await self._start_watch(user)
                if watch is None:  # no check yet: no bucket yet
                    self.errors.pop(user, None)
                    self._wake[user].clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake[user].wait(), self.retry)
                    continue
                self.errors.pop(user, None)
                async for entry in watch:
                    with contextlib.suppress(ValueError):
                        self.records[user][entry.key] = json.loads(entry.text or "{}")
                    self._changed()
                self._watches.pop(user, None)  # the watch ended (bucket deleted): look again
            except asyncio.CancelledError:
                raise
            except Exception as err:
                from .widgets._base import describe_error

                self.errors[user] = describe_error(err)
                self._watches.pop(user, None)
                self._changed()
                await asyncio.sleep(self.retry)

    async def refresh(self, timeout: float = 5.0) -> dict[str, dict[str, str]]:
        """Bring every participant's row up to date now; returns ``{user: {exercise: status}}``."""
        self.start()

        async def one(user: str) -> None:
            # the bucket may have appeared since the last look; the follow loop takes a new watch over
            watch = self._watches.get(user) or await self._start_watch(user)
            if watch is not None:
                await watch.wait_caught_up(timeout)
                # entries received but not yet handed to the follow loop: let it take them
                deadline = time.monotonic() + timeout
                while watch.pending() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0)

        await asyncio.gather(*(one(u) for u in self.participants), return_exceptions=True)
        self._render()
        return self.table()

    async def stop(self) -> ProgressBoard:
        """Stop every watch; the last picture stays on the page (also in a saved notebook), marked stopped."""
        if self._stopped:
            return self
        self._render()
        self._stopped = True  # no render after this one
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        watches, self._watches = list(self._watches.values()), {}
        await asyncio.gather(*(w.stop() for w in watches), return_exceptions=True)
        self._freeze()
        return self

    def _passed(self) -> int:
        return sum(status_of(r) == PASSED for recs in self.records.values() for r in recs.values())

    def _stopped_note(self) -> str:
        return f"stopped · {self._passed()} exercises passed in all · re-run the cell for a live view"

    def _plain(self) -> str:
        state = "stopped" if self._stopped else "live"
        return f"ProgressBoard({len(self.participants)} participants, {len(self.columns)} exercises, {state})"

    def _frozen_bundle(self) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._frozen_bundle()
        bundle["text/plain"] = self._plain()
        return bundle

    def _live_bundle(self, **kwargs: Any) -> dict[str, Any]:
        if self._autostart:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to watch with
                self.start()
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = self._plain()
        return bundle

    def __repr__(self) -> str:
        return self._plain()
