"""Keeping the last picture of a polled view (ClusterView, the classroom boards) when it stops.

Such a view is an ``ipywidgets.HTML`` that a task re-renders. It is shown with a display id, so
stopping it can replace every output that shows it by its last HTML, marked "stopped": the page,
the saved notebook, nbconvert and GitHub then keep that picture (a live view in a notebook opened
without its kernel would read "Error displaying widget"). The same contract as
:meth:`kvnb.widgets._base.KvnbWidget.stop`, for views that are not anywidgets.
"""

from __future__ import annotations

import contextlib
from html import escape
from typing import Any

from ._registry import LIVE

__all__ = ["FrozenPicture"]

NOTE_STYLE = "font-size:12px;color:var(--jp-ui-font-color2,#616161);margin:2px 0"


class FrozenPicture:
    """Mixin: ``self.widget`` (an ``ipywidgets.HTML``) is shown live until :meth:`_freeze`."""

    widget: Any
    _stopped: bool = False

    def _init_frozen(self) -> None:
        self._stopped = False
        self._display_ids: list[str] = []
        LIVE.add(self)

    @property
    def stopped(self) -> bool:
        """True once the view no longer updates."""
        return self._stopped

    def _stopped_note(self) -> str:
        return "stopped · re-run the cell for a live view"

    def _frozen_bundle(self) -> dict[str, Any]:
        note = f'<div class="kvnb-stopped" style="{NOTE_STYLE}">{escape(self._stopped_note())}</div>'
        return {"text/plain": f"{type(self).__name__} ({self._stopped_note()})", "text/html": note + self.widget.value}

    def _freeze(self) -> None:
        """Mark stopped and put the last picture in place of every live output."""
        self._stopped = True
        LIVE.discard(self)
        if not self._display_ids:
            return
        from IPython.display import update_display

        bundle = self._frozen_bundle()
        for display_id in self._display_ids:
            with contextlib.suppress(Exception):  # no kernel any more: the live view simply stays
                update_display(bundle, raw=True, display_id=display_id)

    def _live_bundle(self, **kwargs: Any) -> dict[str, Any]:
        return self.widget._repr_mimebundle_(**kwargs)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self._frozen_bundle() if self._stopped else self._live_bundle(**kwargs)

    def _ipython_display_(self, **kwargs: Any) -> None:
        # A display id, so stopping can put the last picture in place of the live view.
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        if self._stopped:
            display(bundle, raw=True)
            return
        display_id = f"kvnb-{type(self).__name__.lower()}-{id(self)}-{len(self._display_ids)}"
        self._display_ids.append(display_id)
        display(bundle, raw=True, display_id=display_id)
