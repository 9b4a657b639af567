"""What every kvnb widget shares: the kernel's main loop, tasks, throttled refreshes, reprs, closing.

- The loop running when the widget is made (the kernel's main loop in a notebook) owns every
  task and every nats-py call. Front-end messages may arrive on an ipykernel 7 subshell thread:
  they are handed to that loop with ``asyncio.run_coroutine_threadsafe``, never run in place.
- Refreshes go through a :class:`~._throttle.Throttle`: at most 20 messages a second.
- ``text/plain`` is deterministic (no times, no rates) for nbval; ``text/html`` is a static
  picture for nbconvert and GitHub; JupyterLab still shows the live view (its widget MIME type
  outranks both).
- Re-running the cell that made a widget closes the previous one (a registry keyed by
  widget type, bucket and pattern), so no old watcher keeps running.
- Two ways to end a widget. :meth:`KvnbWidget.stop` stops its watcher and tasks (freeing the
  server-side consumer) and *keeps its last picture*: every output that shows the widget is
  replaced, through its display id, by the static picture marked "stopped · last revision N".
  That picture is what a saved notebook, nbconvert and GitHub show, so a notebook reopened
  without its kernel shows it too (a live view there would read "Error displaying widget").
  :meth:`KvnbWidget.close` stops it and removes the view: an explicit, separate call.
  :func:`stop_widgets` stops every live widget of the kernel (the last cell of a notebook).
- :class:`WatchWidget` is the base of the widgets drawn from one watch (feed, timeline, table).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from html import escape as html_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anywidget
import traitlets as t

from ..watch import CAUGHT_UP
from ._registry import LIVE as _LIVE
from ._registry import live_widgets, stop_widgets
from ._throttle import Throttle

if TYPE_CHECKING:
    from ..bucket import KV
    from ..watch import Watch

__all__ = ["KvnbWidget", "WatchWidget", "esm", "live_widgets", "stop_widgets"]

log = logging.getLogger("kvnb.widgets")
_HERE = Path(__file__).parent
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_YIELD_EVERY = 512  # events between two yields to the loop (keeps buttons and refreshes responsive)


def esm(name: str) -> str:
    """A widget's ES module: the shared helpers followed by the widget's own file."""
    return (_HERE / "_common.js").read_text(encoding="utf-8") + "\n" + (_HERE / name).read_text(encoding="utf-8")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def as_kv(kv: Any) -> KV | None:
    """The async bucket behind ``kv`` (a :class:`kvnb.KV`, or the sync facade's wrapper of one), or None."""
    from ..bucket import KV
    from ..errors import InvalidInput

    if kv is None or isinstance(kv, KV):
        return kv
    inner = getattr(kv, "kv", None)
    if isinstance(inner, KV):
        return inner
    raise InvalidInput(f"a widget needs a bucket from `await kvnb.open_bucket(...)`, got {type(kv).__name__} "
                       f"{kv!r:.60}. Example: kv = await kvnb.open_bucket('demo'); kvnb.WatchFeed(kv)")


def require_kv(kv: Any, widget: str) -> KV:
    """Like :func:`as_kv`, for widgets that cannot work without a bucket."""
    found = as_kv(kv)
    if found is None:
        from ..errors import InvalidInput

        args = "kv, 'counter'" if widget == "Race" else "kv"
        raise InvalidInput(f"{widget} needs a bucket. Example: kv = await kvnb.open_bucket('demo'); "
                           f"kvnb.{widget}({args})")
    return found


def describe_error(err: BaseException) -> str:
    """One line for the error row: kvnb errors already say the rule and the fix."""
    text = str(err) or type(err).__name__
    from ..errors import KvnbError

    return text if isinstance(err, KvnbError) else f"{type(err).__name__}: {text}"


class KvnbWidget(anywidget.AnyWidget):
    """Base of the kvnb widgets (an anywidget ``DOMWidget``)."""

    _css = (_HERE / "kvnb.css").read_text(encoding="utf-8")
    bucket = t.Unicode("", help="the bucket's name ('' when fed by hand)").tag(sync=True)
    error = t.Unicode("", help="the last error, shown as a line inside the widget").tag(sync=True)

    _registry: ClassVar[dict[tuple[Any, ...], weakref.ref[KvnbWidget]]] = {}
    _kind: ClassVar[str] = "widget"

    def __init__(self, kv: KV | None, *, registry_key: tuple[Any, ...] | None = None, **traits: Any) -> None:
        loop = _running_loop()
        if kv is not None and loop is None:
            from ..errors import InvalidInput

            raise InvalidInput(
                f"{type(self).__name__} reads the bucket live from an asyncio task, so it needs a running event "
                "loop: make it in a notebook cell (Jupyter runs one) or inside an async function."
            )
        super().__init__(bucket=kv.name if kv is not None else "", **traits)
        self.kv = kv
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready = asyncio.Event()
        self._closed = False
        self._stopped = False
        self._display_ids: list[str] = []  # the outputs that show this widget (replaced on stop)
        self._stopping: asyncio.Future[Any] | concurrent.futures.Future[Any] | None = None
        self._seq = 0
        self.messages_sent = 0  # custom messages to the front end (the bench reads it)
        self._throttle = Throttle(self._loop, self._safe_refresh)
        self._registry_key = registry_key
        self.on_msg(self._on_front_msg)
        if registry_key is not None:
            self._replace_previous(registry_key)
        _LIVE.add(self)
        self._kvnb_init = True

    # --- the main loop ----------------------------------------------------------------------
    def _on_loop(self) -> bool:
        return self._loop is not None and threading.get_ident() == self._loop_thread

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | concurrent.futures.Future[Any] | None:
        """Run ``coro`` as a task of the widget on the main loop (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            return None
        if self._on_loop():
            task = loop.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)
            return task
        # a subshell thread: hand it over (loop.create_task from another thread runs late or never)
        return asyncio.run_coroutine_threadsafe(self._tracked(coro), loop)

    async def _tracked(self, coro: Coroutine[Any, Any, Any]) -> Any:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._task_done)
        return await coro

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._set_error(task.exception())  # type: ignore[arg-type]

    def _call_on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the main loop: now when already there, else handed over."""
        if self._on_loop() or self._loop is None:
            fn(*args)
            return

        async def call() -> None:
            fn(*args)

        self._spawn(call())

    # --- errors -----------------------------------------------------------------------------
    def _set_error(self, err: BaseException | str) -> None:
        """Show an error inside the widget (never an unhandled traceback)."""
        text = err if isinstance(err, str) else describe_error(err)
        if not isinstance(err, str):
            log.debug("%s: %s", type(self).__name__, text, exc_info=err)
        if self._on_loop() or self._loop is None:
            self.error = text
            self._throttle.kick()
        else:
            self._call_on_loop(self._set_error, text)

    async def _follow_watch(self, watch: Watch, every: float = 1.0) -> None:
        """Show a watch's trouble (server away, resuming) in the error line while it lasts."""
        shown = ""
        nc = self.kv.nc if self.kv is not None else None
        while not self._closed and not watch.stopped:
            await asyncio.sleep(every)
            trouble = watch.error or ""
            if not trouble and nc is not None and not nc.is_connected:
                trouble = ("lost the connection to the NATS server; reconnecting (the view resumes where it "
                           "stopped, nothing missed)")
            if trouble != shown:
                if trouble or self.error == shown:  # never wipe an error that came from elsewhere
                    self.error = trouble
                shown = trouble

    def _watch_started(self, watch: Watch) -> None:
        self._spawn(self._follow_watch(watch))

    # --- front-end messages -----------------------------------------------------------------
    def _on_front_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and not self._closed:
            self._call_on_loop(self._handle_front, content)

    def _handle_front(self, content: dict[str, Any]) -> None:
        kind = content.get("type")
        try:
            if kind == "hello":
                self._send_snapshot()
            elif kind == "action":
                self._action(str(content.get("name", "")), content)
        except Exception as err:  # a bad message must not become a traceback in the kernel log
            self._set_error(err)

    def _action(self, name: str, content: dict[str, Any]) -> None:
        """A button in the front end (subclasses)."""

    # --- refreshes --------------------------------------------------------------------------
    def _post(self, kind: str, data: dict[str, Any]) -> None:
        if self._closed or self.comm is None:
            return
        self._seq += 1
        self.messages_sent += 1
        self.send({"type": kind, "seq": self._seq, "data": data})

    def _send_snapshot(self) -> None:
        """Send the whole picture (for widgets that stream deltas)."""
        data = self._snapshot()
        if data is not None:
            self._post("snapshot", data)

    def _snapshot(self) -> dict[str, Any] | None:
        return None

    def _refresh(self) -> None:
        """Push what changed to the front end (runs at most 20 times a second)."""

    def _safe_refresh(self) -> None:
        try:
            with self.hold_sync():
                self._refresh()
        except Exception as err:
            log.debug("refresh failed", exc_info=True)
            self.error = describe_error(err)

    def refresh(self) -> None:
        """Push pending changes to the front end now instead of at the next tick."""
        self._throttle.flush()

    # --- lifecycle --------------------------------------------------------------------------
    async def ready(self, timeout: float = 5.0) -> KvnbWidget:
        """Wait until the initial data is in (a feed: its watch has caught up)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{type(self).__name__} on {self.bucket!r} not ready after {timeout} s"
                               + (f": {self.error}" if self.error else "")) from None
        return self

    def _mark_ready(self) -> None:
        self._ready.set()
        self._throttle.kick()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` removed the widget."""
        return self._closed

    @property
    def stopped(self) -> bool:
        """True once the widget no longer follows its bucket (after :meth:`stop` or :meth:`close`)."""
        return self._stopped or self._closed

    async def stop(self) -> KvnbWidget:
        """Stop following the bucket and keep the last picture on the page.

        The watcher and its server-side consumer, and every task of the widget, end. Each output
        showing the widget is replaced by its static picture, marked "stopped · last revision N",
        which is also what a saved notebook shows without a kernel. Calling it again does nothing.
        :meth:`close` is the call that removes the view. Example::

            await timeline.stop()
        """
        if self._stopped or self._closed or not getattr(self, "_kvnb_init", False):
            return self
        self._stopped = True
        _LIVE.discard(self)
        self._unregister()
        self._throttle.flush()  # the front end gets the final state before the view is frozen
        self._throttle.close()
        stopping = self._stopping = self._schedule_stop()
        if stopping is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                if isinstance(stopping, concurrent.futures.Future):
                    await asyncio.wrap_future(stopping)
                else:
                    await stopping
        self._freeze_outputs()
        return self

    def _last_revision(self) -> int | None:
        """The last bucket revision the widget showed, for the "stopped" mark (subclasses refine it)."""
        return None

    def stopped_note(self) -> str:
        """The line a stopped widget carries: ``stopped · last revision 42``."""
        last = self._last_revision()
        return "stopped" + (f" · last revision {last}" if last else "") + " · re-run the cell for a live view"

    def _frozen_bundle(self) -> dict[str, Any]:
        note = html_escape(self.stopped_note())
        picture = (f'<div class="kvnb-stopped" style="font-size:12px;color:var(--jp-ui-font-color2,#616161);'
                   f'margin:2px 0">{note}</div>{self._static_html()}')
        return {"text/plain": repr(self), "text/html": picture}

    def _freeze_outputs(self) -> None:
        """Replace every output that shows the widget by its last static picture."""
        if not self._display_ids:
            return
        from IPython.display import update_display

        bundle = self._frozen_bundle()
        for display_id in self._display_ids:
            try:
                update_display(bundle, raw=True, display_id=display_id)
            except Exception:  # no kernel any more: the live view simply stays
                log.debug("freezing %s failed", display_id, exc_info=True)

    def close(self) -> None:
        """Stop watchers (and their server-side consumers) and remove the view from the page."""
        if not getattr(self, "_kvnb_init", False):
            return
        if not self._closed:
            self._closed = True
            _LIVE.discard(self)
            self._throttle.close()
            self._unregister()
            if not self._stopped:
                self._stopping = self._schedule_stop()
        super().close()

    async def aclose(self) -> None:
        """:meth:`close` and wait until the watchers are stopped."""
        self.close()
        stopping = self._stopping
        if stopping is None:
            return
        with contextlib.suppress(Exception, asyncio.CancelledError):
            if isinstance(stopping, concurrent.futures.Future):
                await asyncio.wrap_future(stopping)
            else:
                await stopping

    def _schedule_stop(self) -> asyncio.Future[Any] | concurrent.futures.Future[Any] | None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return None
        if self._on_loop():
            return loop.create_task(self._stop())
        if loop.is_running():
            return asyncio.run_coroutine_threadsafe(self._stop(), loop)
        return None

    async def _stop(self) -> None:
        try:
            await self._stop_sources()
        except Exception:
            log.debug("stopping %s failed", type(self).__name__, exc_info=True)
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _stop_sources(self) -> None:
        """Stop watches and connections (subclasses)."""

    def _replace_previous(self, key: tuple[Any, ...]) -> None:
        ref = KvnbWidget._registry.get(key)
        previous = ref() if ref is not None else None
        if previous is not None and previous is not self and not previous._closed:
            previous.close()
        KvnbWidget._registry[key] = weakref.ref(self)

    def _unregister(self) -> None:
        key = self._registry_key
        if key is not None:
            ref = KvnbWidget._registry.get(key)
            if ref is not None and ref() is self:
                del KvnbWidget._registry[key]

    # --- reprs ------------------------------------------------------------------------------
    def _text_lines(self) -> list[str]:
        """The deterministic text view (subclasses); first line is the summary."""
        return [type(self).__name__]

    def _static_html(self) -> str:
        """A static HTML picture (subclasses)."""
        return ""

    def __repr__(self) -> str:
        lines = self._text_lines()
        if self.error:
            lines.insert(1, f"error: {self.error}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return self._static_html()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        if self._stopped and not self._closed:
            return self._frozen_bundle()
        data: dict[str, Any] = {"text/plain": repr(self), "text/html": self._static_html()}
        if self._view_name is not None and self.comm is not None and not self._closed:
            data[_WIDGET_MIME] = {"version_major": 2, "version_minor": 0, "model_id": self.model_id}
        return data

    def _ipython_display_(self, **kwargs: Any) -> None:
        # Shown with a display id, so stop() can later put the last picture in place of the view.
        from IPython.display import display

        # ipywidgets' close() sets the instance's _repr_mimebundle_ to None: go through the class
        bundle = KvnbWidget._repr_mimebundle_(self)
        if _WIDGET_MIME not in bundle:
            display(bundle, raw=True)
            return
        display_id = f"kvnb-{self.model_id}-{len(self._display_ids)}"
        self._display_ids.append(display_id)
        display(bundle, raw=True, display_id=display_id)


class WatchWidget(KvnbWidget):
    """A widget drawn from one watch of its bucket, read on the main loop into ``self.model``.

    A subclass sets ``self.model`` (anything with ``add(entry)``) before calling ``__init__``, and
    says which watch to open (:meth:`_open_watch`) and what the caught-up moment does
    (:meth:`_on_caught_up`). ``kv=None`` makes an offline widget that is ready at once.
    """

    model: Any

    def __init__(self, kv: KV | None, *, registry_key: tuple[Any, ...] | None = None, **traits: Any) -> None:
        self._watch: Watch | None = None
        super().__init__(kv, registry_key=registry_key, **traits)
        if kv is None:
            self._ready.set()
        else:
            self._spawn(self._consume())

    def _open_watch(self) -> Watch:
        """The watch the widget reads (subclasses)."""
        raise NotImplementedError

    def _on_caught_up(self) -> None:
        """Every initial value is in (subclasses also update their own state first)."""
        self._mark_ready()

    async def _consume(self) -> None:
        assert self.kv is not None
        add = self.model.add
        kick = self._throttle.kick
        try:
            self._watch = watch = self._open_watch()
            await watch.start()
            self._watch_started(watch)
            n = 0
            async for item in watch.events():
                if item is CAUGHT_UP:
                    self._on_caught_up()
                    continue
                add(item)
                kick()
                n += 1
                if n % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._set_error(err)
        finally:
            self._ready.set()

    def _last_revision(self) -> int | None:
        return self._watch.last_revision if self._watch is not None else None

    async def _stop_sources(self) -> None:
        if self._watch is not None:
            await self._watch.stop()
