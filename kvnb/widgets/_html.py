"""Static HTML for the ``text/html`` fallback (nbconvert, GitHub): inline styles, JupyterLab colours.

The live view's stylesheet is not loaded there, so every style is inline, with the same CSS
variables (and fallbacks for pages that do not define them) and the same class names and data
attributes as the live DOM.
"""

from __future__ import annotations

from html import escape

__all__ = ["OP_STYLE", "esc", "op_badge", "root"]

_ROOT_STYLE = (
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,12px);"
    "color:var(--jp-ui-font-color1,inherit);background:var(--jp-layout-color1,transparent);"
    "border:1px solid var(--jp-border-color2,#ccc);border-radius:4px;padding:6px 8px;max-width:100%;overflow-x:auto"
)
OP_STYLE = {
    "PUT": "background:var(--jp-brand-color1,#1976d2)",
    "DEL": "background:var(--jp-warn-color1,#f57c00);border-radius:50%",
    "PURGE": "background:var(--jp-error-color1,#d32f2f);text-decoration:line-through",
}
_LETTER = {"PUT": "P", "DEL": "D", "PURGE": "X"}
MUTED = "color:var(--jp-ui-font-color2,#757575)"


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def op_badge(op: str, *, gone: bool = False) -> str:
    style = ("display:inline-block;min-width:1.4em;text-align:center;font-weight:bold;border-radius:2px;"
             "color:var(--jp-ui-inverse-font-color1,#fff);")
    if gone:
        style += "border:1px dashed var(--jp-ui-font-color2,#757575);color:var(--jp-ui-font-color2,#757575);" \
                 "text-decoration:line-through"
    else:
        style += OP_STYLE.get(op, "")
    cls = f"kvnb-op kvnb-op-{op.lower()}" + (" kvnb-gone" if gone else "")
    return f'<span class="{cls}" title="{esc(op)}" style="{style}">{_LETTER.get(op, "?")}</span>'


def root(kind: str, title: str, body: str, *, status: str = "", error: str = "") -> str:
    """The widget's frame: ``kvnb-widget kvnb-<kind>``, a title line, an error line, the body."""
    err = (f'<div class="kvnb-error" style="color:var(--jp-error-color1,#d32f2f)">⚠ {esc(error)}</div>'
           if error else "")
    return (f'<div class="kvnb-widget kvnb-{kind}" style="{_ROOT_STYLE}">'
            f'<div class="kvnb-head"><b class="kvnb-title">{esc(title)}</b> '
            f'<span class="kvnb-status" style="{MUTED}">{esc(status)}</span></div>{err}{body}</div>')
