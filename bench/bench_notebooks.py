"""Wall time to execute the whole notebook suite, the way ``make test`` runs it (nbval, one bundled server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from ._harness import Row, print_rows, row

GROUP = "Notebook suite"
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600


def run(rounds: int = 1) -> list[Row]:
    """Run ``pytest --nbval-lax --kvnb-server notebooks`` once in a subprocess and time it."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        return [row(GROUP, "execute every notebook (nbval)", kvnb=None, raw=None, unit="s",
                    note="no notebooks in notebooks/ yet")]
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    argv = [sys.executable, "-m", "pytest", "notebooks", "--nbval-lax", "--kvnb-server", "-q",
            "-p", "no:cacheprovider", "-o", "addopts=", "-rf"]
    sanitize = ROOT / "notebooks" / "nbval_sanitize.cfg"
    if sanitize.is_file():  # the same invocation as `make test`
        argv += ["--nbval-sanitize-with", str(sanitize.relative_to(ROOT))]
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    elapsed = time.perf_counter() - t0
    summary = _summary(done.stdout)
    result = row(GROUP, f"execute all {len(notebooks)} notebooks (nbval)", kvnb=elapsed, raw=None, unit="s",
                 note=f"{summary}; no raw nats-py counterpart")
    if done.returncode != 0:
        result["ok"] = False
        failed = [ln.split(" ", 2)[1] for ln in done.stdout.splitlines() if ln.startswith("FAILED ")]
        which = f": {', '.join(failed[:5])}" if failed else ""
        result["note"] = f"FAILED (pytest exit {done.returncode}): {summary}{which}"
    return [result]


def _summary(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if re.search(r"\d+ (passed|failed|error)", ln)]
    return lines[-1].strip("= ") if lines else "no pytest summary"


if __name__ == "__main__":
    print_rows(run())
