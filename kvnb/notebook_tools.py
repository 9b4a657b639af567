"""Notebook housekeeping: strip outputs and widget state; check a folder is stripped.

``python -m kvnb.notebook_tools strip notebooks``   removes outputs, execution counts, widget state
``python -m kvnb.notebook_tools check notebooks``   exits 1 listing every notebook that still has them
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["main", "problems", "strip"]


def problems(nb: dict) -> list[str]:
    """What in a notebook should not be committed (outputs, execution counts, widget state)."""
    found = []
    cells = nb.get("cells", [])
    outputs = sum(1 for c in cells if c.get("outputs"))
    counts = sum(1 for c in cells if c.get("execution_count"))
    if outputs:
        found.append(f"{outputs} cells with outputs")
    if counts:
        found.append(f"{counts} cells with execution counts")
    if "widgets" in nb.get("metadata", {}):
        found.append("widget state in metadata")
    return found


def strip(nb: dict) -> dict:
    """Remove outputs, execution counts and widget state (in place; also returned)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def _write(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] not in ("strip", "check", "learner"):
        print(__doc__)
        return 2
    command, folder = args[0], Path(args[1])
    paths = sorted(p for p in folder.glob("*.ipynb"))
    if command == "learner":
        from .learner import write_learner_copies

        return write_learner_copies(folder, Path(args[2]) if len(args) > 2 else Path("learner"))
    bad = 0
    for path in paths:
        nb = json.loads(path.read_text())
        found = problems(nb)
        if command == "strip" and found:
            _write(path, strip(nb))
            print(f"stripped {path}")
        elif command == "check" and found:
            bad += 1
            print(f"{path}: {', '.join(found)}. Fix: make strip-notebooks", file=sys.stderr)
    if command == "check":
        print(f"{len(paths)} notebooks checked, {bad} not stripped")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
