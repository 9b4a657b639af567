"""The kernel's live kvnb widgets, so one call can stop them all (a light module: no ipywidgets)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

__all__ = ["LIVE", "live_widgets", "stop_widgets"]

# Every widget not yet stopped or closed; weak, so a forgotten widget can still go.
LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def live_widgets() -> list[Any]:
    """The kvnb widgets of this kernel that are still live (neither stopped nor closed)."""
    return [w for w in list(LIVE) if not getattr(w, "stopped", True)]


async def stop_widgets() -> int:
    """Stop every live kvnb widget and keep its last picture on the page; returns how many were stopped.

    The last cell of a notebook calls it: watchers and their server-side consumers end, every view
    stays, frozen and marked "stopped". Example::

        await kvnb.stop_widgets()
    """
    widgets = live_widgets()
    await asyncio.gather(*(w.stop() for w in widgets), return_exceptions=True)
    return len(widgets)
