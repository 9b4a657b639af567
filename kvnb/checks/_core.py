"""What every self-check shares: a pass value, a "not yet" error with a hint, small helpers.

A check returns :class:`Passed` (its repr is the success line a notebook shows) or raises
:class:`NotYet`, whose message says what is wrong and what to try. ``NotYet`` renders in a
notebook as one short line instead of a traceback, but it is still an error, so nbval fails a
solved notebook whose answer broke.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..bucket import KV
from ..errors import KvnbError
from ..watch import Watch

__all__ = ["NotYet", "Passed", "fail", "guarded", "require_async", "require_bucket", "require_callable",
           "require_watch", "subject_matches"]


class NotYet(KvnbError, AssertionError):
    """The answer is not right yet; ``hint`` says what to change."""

    def __init__(self, exercise: str, hint: str) -> None:
        self.exercise = exercise
        self.hint = hint
        super().__init__(f"{exercise}: not yet. {hint}")

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: a learner sees the hint, not our stack.
        return [f"\u274c {self.exercise}: not yet.", f"   Hint: {self.hint}"]


class Passed:
    """A passed check; shows as one line in a notebook, and is truthy."""

    def __init__(self, exercise: str, message: str) -> None:
        self.exercise = exercise
        self.message = message

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"\u2705 {self.exercise}: well done. {self.message}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def fail(exercise: str, hint: str) -> NotYet:
    """The error to raise; ``raise fail(...)`` reads well in the checks."""
    return NotYet(exercise, hint)


def require_callable(exercise: str, fn: Any, example: str) -> Callable[..., Any]:
    """``fn`` must be a function (the learner may have passed its result instead)."""
    if not callable(fn):
        raise fail(exercise, f"pass the function itself, not {type(fn).__name__} {fn!r:.40}. Example: {example}")
    return fn


def require_bucket(exercise: str, kv: Any, example: str) -> KV:
    """``kv`` must be a bucket (a :class:`kvnb.KV`), not its name or a value read from it."""
    if not isinstance(kv, KV):
        raise fail(exercise, f"pass the bucket (a kvnb.KV, what open_bucket returns), not {type(kv).__name__} "
                             f"{kv!r:.40}. Example: {example}")
    return kv


def require_watch(exercise: str, watch: Any, var: str, example: str) -> Watch:
    """``watch`` must be a running :class:`kvnb.Watch`: started, and not stopped yet."""
    if isinstance(watch, list):
        raise fail(exercise, f"{var} is a list, a snapshot read once; this check needs the running watch itself, "
                             f"so that it can write and see what your watch delivers next. Example: {example}")
    if not isinstance(watch, Watch):
        raise fail(exercise, f"{var} should be a running watch (a kvnb.Watch), got {type(watch).__name__} "
                             f"{watch!r:.40}. Example: {example}")
    if watch.stopped:
        raise fail(exercise, f"{var} is stopped, so it receives nothing more: an `async with kv.watch(...) as w:` "
                             "block stops its watch when the block ends, and the block ends with its cell. "
                             f"Keep it open instead (the check stops it when done). Example: {example}")
    if not watch.started:
        raise fail(exercise, f"{var} was never started, so it was not running during the writes: await it when "
                             f"you make it. Example: {example}")
    return watch


def require_async(exercise: str, fn: Callable[..., Any], example: str) -> None:
    """``fn`` must be an ``async def`` function (the checks await it)."""
    if not inspect.iscoroutinefunction(fn):
        raise fail(exercise, f"{getattr(fn, '__name__', 'your function')} must be defined with `async def` "
                             f"(it awaits kv calls, and the check awaits it). Example: {example}")


def subject_matches(pattern: str, key: str) -> bool:
    """NATS wildcard matching on whole tokens: ``*`` is one token, ``>`` one or more at the end."""
    pat, toks = pattern.split("."), key.split(".")
    for i, p in enumerate(pat):
        if p == ">":
            return len(toks) > i
        if i >= len(toks) or (p != "*" and p != toks[i]):
            return False
    return len(pat) == len(toks)


def guarded(exercise: str, fn: Callable[..., Any], *passes: type[BaseException]) -> Callable[..., Any]:
    """``fn`` (a learner's async function) wrapped so that an unexpected exception becomes a hint.

    Exceptions of the types in ``passes`` go through unchanged (the check handles them itself), and
    so does :class:`NotYet`. A stub that still raises ``NotImplementedError`` is told to write the code.
    """
    name = getattr(fn, "__name__", "your function")

    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
            if not inspect.isawaitable(result):
                raise fail(exercise, f"{name}() returned {result!r:.40} instead of a coroutine: define it with "
                                     "'async def' and await the bucket's calls inside.")
            return await result
        except NotYet:
            raise
        except NotImplementedError:
            raise fail(exercise, f"{name}() still raises NotImplementedError: replace the placeholder lines in "
                                 "its cell with your code, run that cell, then this check.") from None
        except Exception as err:
            if passes and isinstance(err, passes):
                raise
            raise fail(exercise, f"{name}() raised {type(err).__name__}: {err}. Read the exercise again: "
                                 "which call fits, and which error should your code catch?") from None

    return call
