"""Playground: key and value inputs and Put / Get / Create / Update / Delete / Purge buttons.

Example (in a notebook cell)::

    pg = kvnb.Playground(kv)
    pg                                   # click the buttons; or from code:
    await pg.do("put", "color", "blue")  # 'put color = "blue" → revision 1'
    await pg.do("update", "color", "red", last=1)

Results and errors (a conflict, a deleted key, a bad key) show inline as a result line, never
as a traceback; :attr:`result` holds the same text and :attr:`ok` says which it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import traitlets as t

from ..errors import InvalidOption, KeyDeleted, KeyNotFound
from ..model.events import BytesPreview, preview
from . import _html
from ._base import KvnbWidget, describe_error, esm, require_kv

if TYPE_CHECKING:
    from ..bucket import KV

__all__ = ["ACTIONS", "Playground"]

ACTIONS = ("put", "get", "create", "update", "delete", "purge")
_LOG = 12


class Playground(KvnbWidget):
    """Poke a bucket without writing code. The Python API mirrors the buttons: :meth:`do`."""

    _esm = esm("playground.js")
    _kind = "playground"
    key = t.Unicode("", help="the key input").tag(sync=True)
    value = t.Unicode("", help="the value input").tag(sync=True)
    last = t.Int(0, help="the 'last revision' input used by Update").tag(sync=True)
    result = t.Unicode("", help="the result (or error) of the last operation").tag(sync=True)
    ok = t.Bool(True, help="False when the last operation failed").tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    log = t.List(help="the most recent results, newest first").tag(sync=True)

    def __init__(self, kv: KV) -> None:
        kv = require_kv(kv, "Playground")
        super().__init__(kv, registry_key=("Playground", kv.name, None))
        self._ready.set()

    async def do(self, action: str, key: str | None = None, value: str | None = None,
                 last: int | None = None) -> str:
        """Run one operation like its button; returns the result text (errors included, never raised).

        ``key``/``value`` default to the inputs; ``update`` uses ``last`` (default: the last-revision
        input). An unknown ``action`` raises :class:`kvnb.InvalidOption`.
        """
        action = action.lower() if isinstance(action, str) else action
        if action not in ACTIONS:
            raise InvalidOption(f"action must be one of {', '.join(map(repr, ACTIONS))}, got {action!r}. "
                                'Example: await pg.do("put", "color", "blue")')
        assert self.kv is not None
        key = self.key if key is None else key
        value = self.value if value is None else value
        last = self.last if last is None else last
        with self.hold_sync():
            self.key, self.value, self.busy = key, value, True
        kv = self.kv
        try:
            if action == "put":
                rev = await kv.put(key, value)
                text, self.last = f"put {key} = {value!r} → revision {rev}", rev
            elif action == "create":
                rev = await kv.create(key, value)
                text, self.last = f"created {key} = {value!r} → revision {rev}", rev
            elif action == "update":
                rev = await kv.update(key, value, last=last)
                text, self.last = f"updated {key} = {value!r} (was revision {last}) → revision {rev}", rev
            elif action == "get":
                entry = await kv.get(key)
                shown = preview(entry.value or b"", 60)
                binary = isinstance(shown, BytesPreview)  # shown as <N bytes: ...>, not put in the text box
                text = f"get {key} → {shown if binary else repr(entry.text)} at revision {entry.revision}"
                self.last = entry.revision
                if not binary:
                    self.value = entry.text
            elif action == "delete":
                rev = await kv.delete(key)
                text = f"deleted {key} → DEL marker at revision {rev} (older revisions stay in history)"
                self.last = rev
            else:
                rev = await kv.purge(key)
                text = f"purged {key} → PURGE marker at revision {rev} (older revisions removed)"
                self.last = rev
            ok = True
        except KeyDeleted as err:
            text, ok = f"{action} {key}: {describe_error(err)}", False
            self.last = err.revision
        except KeyNotFound as err:
            text, ok = f"{action} {key}: {describe_error(err)}", False
        except Exception as err:  # Conflict, InvalidKey, InvalidValue, ServerError ...: shown, not raised
            text, ok = f"{action} {key}: {type(err).__name__}: {describe_error(err)}", False
        with self.hold_sync():
            self.result, self.ok, self.busy = text, ok, False
            self.log = [("ok: " if ok else "failed: ") + text, *self.log][:_LOG]
        return text

    async def _do_quietly(self, content: dict[str, Any]) -> None:
        last = content.get("last")
        try:
            last_rev = int(last) if last not in (None, "") else None
        except (TypeError, ValueError):
            self.result, self.ok = f"the last revision must be a whole number, got {last!r}", False
            return
        await self.do(str(content.get("name", "")), str(content.get("key", self.key)),
                      str(content.get("value", self.value)), last=last_rev)

    def _action(self, name: str, content: dict[str, Any]) -> None:
        if name in ACTIONS:
            self._spawn(self._do_quietly(content))

    # --- reprs --------------------------------------------------------------------------------
    def _text_lines(self) -> list[str]:
        lines = [f"Playground({self.bucket!r}): key {self.key!r}, value {self.value!r}, last revision {self.last}"]
        if self.result:
            lines.append(("  ok: " if self.ok else "  failed: ") + self.result)
        return lines

    def _static_html(self) -> str:
        """The form as it was (inputs, buttons greyed: they work in the live view), the result and the log."""
        box = (f"display:inline-block;min-width:10ch;padding:0 4px;border:1px solid {_html.LINE};border-radius:3px;"
               "background:var(--jp-layout-color1,transparent)")
        button = (f"display:inline-block;padding:0 8px;margin-right:4px;border:1px solid {_html.LINE};"
                  f"border-radius:3px;{_html.MUTED}")
        form = (f'<div class="kvnb-pg-form" style="margin-bottom:4px">'
                f'<span class="kvnb-pg-key">key <span style="{box}">{_html.esc(self.key)}</span></span> &nbsp; '
                f'<span class="kvnb-pg-value">value <span style="{box}">{_html.esc(self.value)}</span></span> &nbsp; '
                f'<span class="kvnb-pg-last">last revision <span style="{box};min-width:5ch">{self.last}</span>'
                '</span></div>')
        buttons = ('<div class="kvnb-pg-buttons" title="the buttons work in the live view" style="margin-bottom:4px">'
                   + "".join(f'<span style="{button}">{name}</span>' for name in
                             ("Put", "Get", "Create", "Update", "Delete", "Purge")) + "</div>")
        result = ""
        if self.result:
            colour, cls = (_html.GOOD, "kvnb-good") if self.ok else (_html.BAD, "kvnb-bad")
            result = (f'<div class="kvnb-pg-result {cls}" style="{colour};border-left:4px solid currentColor;'
                      f'padding-left:6px;white-space:pre-wrap">{_html.esc(self.result)}</div>')
        log = "".join(f'<div>{_html.esc(line)}</div>' for line in self.log[1:])
        if log:
            log = f'<div class="kvnb-pg-log" style="{_html.MUTED};margin-top:4px">{log}</div>'
        return _html.root("playground", f"Playground on bucket {self.bucket!r}", form + buttons + result + log,
                          error=self.error)
