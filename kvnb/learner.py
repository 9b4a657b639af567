"""Learner copies: the solved notebooks with every solution replaced by a placeholder.

The notebooks in ``notebooks/`` are the solved ones (CI runs them). In a code cell, the lines
between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are a solution; a learner copy keeps the
indentation and puts a placeholder in their place::

    # YOUR CODE HERE
    raise NotImplementedError("Exercise: write your code here, then run the check below")

Outputs and widget state are stripped as well. ``make learner`` writes the copies::

    python -m kvnb.learner notebooks learner           # write learner/NN_*.ipynb
    python -m kvnb.learner --check notebooks learner   # exit 1 when a copy is missing or stale

A copy a learner has edited is kept (they are working in it) unless ``force=True``/``--force``;
each copy records a hash of its generated cells in its metadata to tell.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .notebook_tools import strip

__all__ = [
    "BEGIN",
    "END",
    "PLACEHOLDER",
    "SolutionMarkerError",
    "fill_workspace",
    "learner_notebook",
    "learner_source",
    "main",
    "solution_blocks",
    "write_learner_copies",
]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
PLACEHOLDER = (
    "# YOUR CODE HERE",
    'raise NotImplementedError("Exercise: write your code here, then run the check below")',
)
_MARKER = re.compile(r"^(?P<indent>[ \t]*)# (?P<which>BEGIN|END) SOLUTION[ \t]*$")
_META_KEY = "kvnb"


class SolutionMarkerError(InvalidInput):
    """The solution markers of a cell are unbalanced or nested."""


def _source_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def solution_blocks(source: str) -> list[list[str]]:
    """The solution lines of a cell's source, block by block (markers excluded)."""
    return _scan(source)[1]


def learner_source(source: str) -> str:
    """``source`` with each solution block replaced by the placeholder, at the block's indentation."""
    return _scan(source)[0]


def _scan(source: str) -> tuple[str, list[list[str]]]:
    out: list[str] = []
    blocks: list[list[str]] = []
    current: list[str] | None = None
    rule = f"each '{BEGIN}' line needs one '{END}' line after it, at the same indentation, not nested"
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = _MARKER.match(line.rstrip("\n"))
        if marker is None:
            (current if current is not None else out).append(line)
            continue
        indent, which = marker.group("indent"), marker.group("which")
        if which == "BEGIN":
            if current is not None:
                raise SolutionMarkerError(f"line {number}: '{BEGIN}' inside another solution. Rule: {rule}.")
            current, begin_indent = [], indent
            continue
        if current is None:
            raise SolutionMarkerError(f"line {number}: '{END}' without a '{BEGIN}' before it. Rule: {rule}.")
        if indent != begin_indent:
            raise SolutionMarkerError(
                f"line {number}: '{END}' is indented differently from its '{BEGIN}'. Rule: {rule}.")
        blocks.append(current)
        newline = "\n" if line.endswith("\n") else ""
        out.append(f"{indent}{PLACEHOLDER[0]}\n{indent}{PLACEHOLDER[1]}{newline}")
        current = None
    if current is not None:
        raise SolutionMarkerError(f"'{BEGIN}' is never closed. Rule: {rule}.")
    return "".join(out), blocks


def _cells_hash(nb: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for cell in nb.get("cells", []):
        digest.update(cell.get("cell_type", "").encode())
        digest.update(b"\0")
        digest.update(_source_text(cell).encode())
        digest.update(b"\1")
    return digest.hexdigest()


def learner_notebook(nb: dict[str, Any], *, source_name: str = "") -> dict[str, Any]:
    """A learner copy of a solved notebook (a new dict; ``nb`` is not changed)."""
    out = strip(copy.deepcopy(nb))
    for index, cell in enumerate(out.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        text = _source_text(cell)
        if BEGIN not in text and END not in text:
            continue
        try:
            cell["source"] = learner_source(text).splitlines(keepends=True)  # the list form Jupyter saves
        except SolutionMarkerError as err:
            where = f"{source_name} cell {index + 1}" if source_name else f"cell {index + 1}"
            raise SolutionMarkerError(f"{where}: {err}") from None
    out.setdefault("metadata", {})[_META_KEY] = {"learner_copy_of": source_name, "cells_sha256": _cells_hash(out)}
    return out


def _dumps(nb: dict[str, Any]) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _edited_by_learner(path: Path) -> bool:
    """True when the copy's cells no longer match the hash recorded when it was generated."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    recorded = nb.get("metadata", {}).get(_META_KEY, {}).get("cells_sha256")
    return recorded is not None and recorded != _cells_hash(nb)


def write_learner_copies(src_folder: str | Path, dest_folder: str | Path, *, check: bool = False,
                         force: bool = False) -> int:
    """Write a learner copy of every ``*.ipynb`` in ``src_folder`` into ``dest_folder``.

    With ``check=True`` nothing is written: report copies that are missing or differ from what
    would be generated. A copy the learner has edited is kept unless ``force``. Returns an exit
    status: 0 when everything is (or was made) current, 1 otherwise.
    """
    src, dest = Path(src_folder), Path(dest_folder)
    sources = sorted(src.glob("*.ipynb"))
    if not sources:
        print(f"no notebooks in {src}", file=sys.stderr)
        return 1
    if not check:
        dest.mkdir(parents=True, exist_ok=True)
    status = written = kept = 0
    for path in sources:
        try:
            wanted = _dumps(learner_notebook(json.loads(path.read_text()), source_name=path.name))
        except (ValueError, SolutionMarkerError) as err:
            print(f"{path}: {err}", file=sys.stderr)
            status = 1
            continue
        target = dest / path.name
        current = target.read_text() if target.exists() else None
        if current == wanted:
            continue
        if check:
            why = "missing" if current is None else "out of date"
            print(f"{target}: {why}. Fix: make learner", file=sys.stderr)
            status = 1
        elif current is not None and not force and _edited_by_learner(target):
            print(f"kept {target}: you have edited it. Delete it (or use --force) to get a fresh copy.")
            kept += 1
        else:
            target.write_text(wanted)
            written += 1
    if check:
        verdict = "all current" if status == 0 else "some not current"
        print(f"{len(sources)} learner copies checked in {dest}: {verdict}")
    else:
        unchanged = len(sources) - written - kept
        print(f"{written} learner copies written to {dest}, {unchanged} already current, {kept} kept")
    return status


def fill_workspace(learner_folder: str | Path, workspace: str | Path, *, skip: Collection[str] = ()) -> list[str]:
    """Put the learner copies into ``workspace``, the folder a learner works in; never lose their work.

    A notebook missing from the workspace is copied. One the learner has not edited (its cells still
    match the hash recorded when it was generated) is brought up to date when the course changed.
    One the learner has edited is never touched. Notebooks named in ``skip`` are left out (a workshop
    hub keeps the instructor's notebook from participants). Returns one line per file that was not simply
    copied or already current, saying what happened and why.
    """
    src, dest = Path(learner_folder), Path(workspace)
    if not src.is_dir():
        raise InvalidInput(f"no learner copies in {src}. Fix: run `make learner` in the kvnb repository")
    dest.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    for path in sorted(src.glob("*.ipynb")):
        if path.name in skip:
            continue
        target = dest / path.name
        wanted = path.read_text(encoding="utf-8")
        if not target.exists():
            target.write_text(wanted, encoding="utf-8")
            continue
        if _edited_by_learner(target):
            if _cells_hash(json.loads(wanted)) != json.loads(target.read_text(encoding="utf-8")).get(
                    "metadata", {}).get(_META_KEY, {}).get("cells_sha256"):
                notes.append(f"kept your edited {target.name}; the course has a newer version in {path} "
                             f"(rename yours to get it)")
            continue
        current = json.loads(target.read_text(encoding="utf-8"))
        if _cells_hash(current) != _cells_hash(json.loads(wanted)):
            target.write_text(wanted, encoding="utf-8")
            notes.append(f"updated {target.name} to the newer course version (you had not edited it)")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kvnb.learner",
                                     description="Write learner copies of the solved notebooks (solutions removed).")
    parser.add_argument("src", nargs="?", default="notebooks", help="folder of solved notebooks (default: notebooks)")
    parser.add_argument("dest", nargs="?", default="learner", help="folder for learner copies (default: learner)")
    parser.add_argument("--check", action="store_true", help="only report copies that are missing or stale")
    parser.add_argument("--force", action="store_true", help="overwrite copies a learner has edited")
    args = parser.parse_args(argv)
    return write_learner_copies(args.src, args.dest, check=args.check, force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
