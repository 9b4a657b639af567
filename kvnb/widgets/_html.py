"""Static HTML for the ``text/html`` fallback (nbconvert, GitHub, a saved notebook): inline styles only.

The live view's stylesheet is not loaded there, and an untrusted notebook strips ``<style>`` tags,
so every style is inline, with JupyterLab's CSS variables (and fallbacks for pages that do not
define them: the text colour is inherited, so a dark page stays readable). The class names and
data attributes are the live DOM's. Nothing here needs an emoji font: operations are letters on
coloured shapes, states are words.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

__all__ = [
    "MUTED",
    "NUM",
    "OP_STYLE",
    "TABLE",
    "TD",
    "TH",
    "esc",
    "legend_item",
    "op_badge",
    "root",
    "table",
    "when",
]

_ROOT_STYLE = (
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,12px);line-height:1.5;"
    "color:var(--jp-ui-font-color1,inherit);background:var(--jp-layout-color1,transparent);"
    "border:1px solid var(--jp-border-color2,#8888);border-radius:4px;padding:6px 8px;max-width:100%;"
    "overflow-x:auto;box-sizing:border-box"
)
OP_STYLE = {
    "PUT": "background:var(--jp-brand-color1,#1976d2)",
    "DEL": "background:var(--jp-warn-color1,#f57c00);border-radius:50%",
    "PURGE": "background:var(--jp-error-color1,#d32f2f);text-decoration:line-through",
}
OP_WORDS = {"PUT": "put", "DEL": "delete", "PURGE": "purge"}
_LETTER = {"PUT": "P", "DEL": "D", "PURGE": "X"}
MUTED = "color:var(--jp-ui-font-color2,#808080)"
WARN = "color:var(--jp-warn-color1,#e65100)"
GOOD = "color:var(--jp-success-color1,#2e7d32)"
BAD = "color:var(--jp-error-color1,#d32f2f)"
LINE = "var(--jp-border-color2,#8884)"
# JupyterLab's and nbconvert's rendered-HTML stylesheet centres tables with a fixed layout, the UI font and
# roomy cells: every table here says what it wants inline.
TABLE = ("border-collapse:collapse;width:100%;table-layout:auto;margin:0;border:none;font-size:inherit;"
         "font-family:inherit;color:inherit;font-variant-numeric:tabular-nums")
TH = (f"text-align:left;font-weight:normal;{MUTED};border:none;border-bottom:1px solid {LINE};"
      "padding:1px 8px 1px 0;white-space:nowrap;line-height:1.5")
TD = (f"border:none;border-bottom:1px solid {LINE};padding:1px 8px 1px 0;white-space:nowrap;vertical-align:baseline;"
      "text-align:left;line-height:1.5")
NUM = "text-align:right;font-variant-numeric:tabular-nums"
_BADGE = ("display:inline-block;min-width:1.4em;height:1.4em;line-height:1.4em;text-align:center;font-weight:bold;"
          "border-radius:2px;box-sizing:border-box;color:var(--jp-ui-inverse-font-color1,#fff);")
_GONE = ("background:transparent;border:1px dashed var(--jp-ui-font-color2,#808080);"
         "color:var(--jp-ui-font-color2,#808080);text-decoration:line-through")


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def when(ms: int | None) -> str:
    """Epoch milliseconds as ``2026-12-06 15:03:12 UTC`` (what a static picture shows instead of an age)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def op_badge(op: str, *, gone: bool = False, title: str | None = None) -> str:
    """The operation's letter on its shape: P square (put), D circle (delete), X crossed out (purge)."""
    shape = OP_STYLE.get(op, "") if not gone else _GONE + (";border-radius:50%" if op == "DEL" else "")
    style = _BADGE + shape
    cls = f"kvnb-op kvnb-op-{op.lower()}" + (" kvnb-gone" if gone else "")
    tip = title if title is not None else OP_WORDS.get(op, op)
    return f'<span class="{cls}" title="{esc(tip)}" style="{style}">{_LETTER.get(op, "?")}</span>'


def legend_item(badge: str, text: str) -> str:
    return f'<span style="margin-right:12px;white-space:nowrap">{badge} {esc(text)}</span>'


def table(head: list[tuple[str, str]], rows: list[str]) -> str:
    """A table with a muted header row: ``head`` is ``[(label, extra th style)]``; ``rows`` are ``<tr>`` strings."""
    ths = "".join(f'<th style="{TH};{extra}">{esc(label)}</th>' for label, extra in head)
    return f'<table class="kvnb-table" style="{TABLE}"><tr>{ths}</tr>{"".join(rows)}</table>'


def root(kind: str, title: str, body: str, *, status: str = "", error: str = "") -> str:
    """The widget's frame: ``kvnb-widget kvnb-<kind>``, a title line, an error line, the body."""
    err = (f'<div class="kvnb-error" style="{BAD}"><b>error:</b> {esc(error)}</div>' if error else "")
    return (f'<div class="kvnb-widget kvnb-{kind}" style="{_ROOT_STYLE}">'
            f'<div class="kvnb-head" style="margin-bottom:4px"><b class="kvnb-title">{esc(title)}</b> '
            f'<span class="kvnb-status" style="{MUTED}">{esc(status)}</span></div>{err}{body}</div>')
