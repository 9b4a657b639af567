"""The committed notebooks: stripped, valid, the same structure, exercises with self-checks.

(nbval runs them: ``pytest notebooks --nbval-lax --kvnb-server``; these tests look at them as files.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

import kvnb.checks
from kvnb.learner import solution_blocks, write_learner_copies
from kvnb.notebook_tools import problems

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
COURSE = [f"{n:02d}" for n in range(8)] + ["11"]  # 00..07 and the capstone: the core curriculum
WITH_EXERCISES = COURSE[1:]                          # 01..07 and 11 have at least two self-checked exercises
# Notebooks that end with Resources and Key points after What's next (00..05 join when their rewrite lands).
FULL_ENDING = [f"{n:02d}" for n in range(6, 12)]
INSTRUCTOR = NOTEBOOKS / "instructor.ipynb"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _markdown(nb: dict) -> str:
    return "\n".join(_text(c) for c in nb["cells"] if c["cell_type"] == "markdown")


def _code(nb: dict) -> list[str]:
    return [_text(c) for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_course_is_there() -> None:
    numbers = {p.name[:2] for p in PATHS}
    assert set(COURSE) <= numbers, f"missing notebooks: {sorted(set(COURSE) - numbers)}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_committed_without_outputs_or_widget_state(path: Path) -> None:
    found = problems(_load(path))
    assert not found, f"{path.name}: {', '.join(found)}. Fix: make strip-notebooks"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_valid_notebook_with_a_python_kernel(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_template_structure(path: Path) -> None:
    """Title, overview with objectives, prerequisites with time, sections, summary, what's next."""
    nb = _load(path)
    first = _text(nb["cells"][0]).lstrip()
    assert re.match(rf"# {path.name[:2]} · \S", first), f"{path.name}: the first cell is the title '# NN · Title'"
    headings = [line.strip() for line in _markdown(nb).splitlines() if line.startswith("## ")]
    for needed in ("## Overview", "## Prerequisites", "## Summary", "## What's next"):
        assert needed in headings, f"{path.name}: no '{needed}' section"
    assert headings.index("## Overview") < headings.index("## Prerequisites") < headings.index("## Summary") \
        < headings.index("## What's next"), f"{path.name}: sections out of order: {headings}"
    assert len([h for h in headings if re.match(r"## \d+\.", h)]) >= 2, f"{path.name}: fewer than two numbered sections"
    prerequisites = _markdown(nb).split("## Prerequisites", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\| Time \| about \d+ minutes", prerequisites), f"{path.name}: no '| Time | about N minutes' row"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_begins_with_a_reset_cell(path: Path) -> None:
    """The first code cell opens the notebook's buckets fresh, so Run All twice gives the same result."""
    first_code = _code(_load(path))[0]
    assert "kvnb.start_server()" in first_code or "import kvnb" in first_code, path.name
    if path.name[:2] in COURSE:
        assert "fresh=True" in first_code, f"{path.name}: the first code cell must open its buckets with fresh=True"


@pytest.mark.parametrize("path", [p for p in PATHS if p.name[:2] in WITH_EXERCISES], ids=lambda p: p.name)
def test_exercises_have_solutions_and_self_checks(path: Path) -> None:
    nb = _load(path)
    exercises = re.findall(r"^### Exercise (\d+)\.(\d+)", _markdown(nb), flags=re.M)
    assert len(exercises) >= 2, f"{path.name}: needs at least two exercises"
    assert all(int(major) == int(path.name[:2]) for major, _ in exercises), f"{path.name}: exercise numbering"
    solutions = sum(len(solution_blocks(code)) for code in _code(nb))
    assert solutions >= len(exercises), f"{path.name}: {len(exercises)} exercises but {solutions} solution blocks"
    calls = re.findall(r"kvnb\.checks\.(\w+)\(", "\n".join(_code(nb)))
    assert len(calls) >= len(exercises), f"{path.name}: each exercise needs a self-check call"
    unknown = [name for name in calls if not callable(getattr(kvnb.checks, name, None))]
    assert not unknown, f"{path.name}: no such checks in kvnb.checks: {unknown}"
    assert "import kvnb.checks" in _code(nb)[0], f"{path.name}: import kvnb.checks in the reset cell"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_links_to_other_notebooks_resolve(path: Path) -> None:
    targets = re.findall(r"\]\(([^)#\s]+\.ipynb)\)", _markdown(_load(path)))
    missing = [t for t in targets if not (NOTEBOOKS / t).exists()]
    assert not missing, f"{path.name} links to notebooks that do not exist: {missing}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_no_machine_paths_in_notebooks(path: Path) -> None:
    text = path.read_text()
    found = re.findall(r"(?<![\w.])/(?:tmp|home|root|work|Users|var/folders)/[\w.-]+", text)
    assert not found, f"{path.name} contains machine-specific paths: {found}"


def _section(nb: dict, heading: str) -> str:
    """The markdown text under ``heading`` up to the next ``## `` heading ('' when there is none)."""
    parts = _markdown(nb).split(f"\n{heading}\n", 1)
    return parts[1].split("\n## ", 1)[0] if len(parts) == 2 else ""


def _minutes(nb: dict) -> int:
    found = re.search(r"\| Time \| about (\d+) minutes", _section(nb, "## Prerequisites"))
    assert found, "no '| Time | about N minutes' row under Prerequisites"
    return int(found.group(1))


def _readme_rows() -> dict[str, int]:
    """notebooks/README.md's course table: notebook file -> planned minutes."""
    text = (NOTEBOOKS / "README.md").read_text()
    rows = re.findall(r"^\| \[\d\d · [^]]+\]\((\d\d_[\w]+\.ipynb)\) \|.*\| (\d+) min \|$", text, flags=re.M)
    return {name: int(minutes) for name, minutes in rows}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_whats_next_points_to_the_next_notebook(path: Path) -> None:
    """Every numbered notebook but the last sends the learner to the one after it."""
    number = int(path.name[:2])
    if number == max(int(p.name[:2]) for p in PATHS) and number >= 11:
        return  # the capstone is the end of the course
    links = re.findall(r"\]\(([^)#\s]+\.ipynb)\)", _section(_load(path), "## What's next"))
    assert links and links[0].startswith(f"{number + 1:02d}_"), \
        f"{path.name}: 'What's next' should link to notebook {number + 1:02d} first, links: {links}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_time_matches_the_readme(path: Path) -> None:
    rows = _readme_rows()
    assert path.name in rows, f"{path.name} has no row in notebooks/README.md"
    assert _minutes(_load(path)) == rows[path.name], \
        f"{path.name} says {_minutes(_load(path))} min, notebooks/README.md {rows[path.name]} min: make them agree"


def test_readme_total_is_the_sum_of_its_rows() -> None:
    total = sum(_readme_rows().values())
    text = (NOTEBOOKS / "README.md").read_text()
    hours, minutes = divmod(total, 60)
    assert f"{total} minutes in all ({hours} h {minutes} min)" in text, \
        f"notebooks/README.md: the rows add up to {total} minutes ({hours} h {minutes} min); say so"


@pytest.mark.parametrize("path", [p for p in PATHS if p.name[:2] in FULL_ENDING] + [INSTRUCTOR],
                         ids=lambda p: p.name)
def test_ends_with_resources_and_key_points(path: Path) -> None:
    """... What's next · Resources (docs.nats.io and an ADR or NATS by Example) · Key points."""
    nb = _load(path)
    headings = [line.strip() for line in _markdown(nb).splitlines() if line.startswith("## ")]
    ending = ("## Exercises", "## Summary", "## What's next", "## Resources", "## Key points")
    if path.name.startswith("11_"):  # the capstone: every section is an exercise, no separate Exercises section
        ending = ending[1:]
    for needed in ending:
        assert needed in headings, f"{path.name}: no '{needed}' section"
    order = [headings.index(h) for h in ending]
    assert order == sorted(order), f"{path.name}: sections out of order: {headings}"
    resources = _section(nb, "## Resources")
    assert "docs.nats.io" in resources or "redis.io" in resources, f"{path.name}: Resources should link docs.nats.io"
    assert path == INSTRUCTOR or "adr/ADR-" in resources or "natsbyexample.com" in resources, \
        f"{path.name}: Resources should link the relevant ADR or NATS by Example page"


@pytest.mark.parametrize("path", [*PATHS, INSTRUCTOR, NOTEBOOKS / "README.md"], ids=lambda p: p.name)
def test_links_to_reference_pages_resolve(path: Path) -> None:
    """Links to the docs pages (glossary, cheat sheet, errors, workshop plan) point at files that exist."""
    text = _markdown(_load(path)) if path.suffix == ".ipynb" else path.read_text()
    targets = re.findall(r"\]\((\.\./docs/[^)#\s]+\.md)\)", text)
    missing = [t for t in targets if not (NOTEBOOKS / t).resolve().exists()]
    assert not missing, f"{path.name} links to pages that do not exist: {missing}"


def test_instructor_notebook_has_the_structure() -> None:
    nb = _load(INSTRUCTOR)
    headings = [line.strip() for line in _markdown(nb).splitlines() if line.startswith("## ")]
    assert headings.index("## Overview") < headings.index("## Prerequisites") < headings.index("## Summary")
    assert len([h for h in headings if re.match(r"## \d+\.", h)]) >= 2
    assert _minutes(nb) > 0


def test_learner_copies_are_reproducible_and_current(tmp_path: Path) -> None:
    """Generating twice gives identical files, and the check mode agrees they are current."""
    first, second = tmp_path / "a", tmp_path / "b"
    assert write_learner_copies(NOTEBOOKS, first) == 0
    assert write_learner_copies(NOTEBOOKS, second) == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)
    assert write_learner_copies(NOTEBOOKS, first, check=True) == 0


# --- the curriculum v2 structure (issues 10, 11 and 14), for every numbered notebook ------------------------
REWRITTEN = PATHS


@pytest.mark.parametrize("path", REWRITTEN, ids=lambda p: p.name)
def test_ends_with_summary_whats_next_resources_key_points(path: Path) -> None:
    headings = [line.strip() for line in _markdown(_load(path)).splitlines() if line.startswith("## ")]
    assert headings[-4:] == ["## Summary", "## What's next", "## Resources", "## Key points"], \
        f"{path.name}: ends with {headings[-4:]}"
    resources = _markdown(_load(path)).split("## Resources", 1)[1].split("\n## ", 1)[0]
    assert "https://docs.nats.io/" in resources, f"{path.name}: Resources must link docs.nats.io"
    assert re.search(r"ADR-\d+|natsbyexample\.com", resources), \
        f"{path.name}: Resources must link an ADR or NATS by Example"


def test_the_course_map_lists_every_notebook() -> None:
    text = _markdown(_load(NOTEBOOKS / "00_start_here.ipynb")).split("The map of the course", 1)[1]
    for n in range(12):
        assert re.search(rf"^\| \[?{n:02d} · ", text, flags=re.M), f"00's course map lacks notebook {n:02d}"


@pytest.mark.parametrize("path", REWRITTEN, ids=lambda p: p.name)
def test_widgets_are_stopped_not_closed(path: Path) -> None:
    """Closing removes a widget's view; a notebook stops its widgets so they keep their last picture."""
    code = "\n".join(_code(_load(path)))
    closed = re.findall(r"^\s*\w+\.close\(\)\s*$", code, flags=re.M)
    assert not closed, f"{path.name} closes widgets ({closed}): end with `await kvnb.stop_widgets()` instead"
    makes_widgets = re.search(r"kvnb\.(Timeline|WatchFeed|BucketTable|Race|TimeTravel|Playground)\(", code)
    if makes_widgets:
        last = _code(_load(path))[-1]
        assert "await kvnb.stop_widgets()" in last or re.search(r"await \w+\.stop\(\)", last), \
            f"{path.name}: stop the widgets at the end (`await kvnb.stop_widgets()`)"


@pytest.mark.parametrize("path", REWRITTEN, ids=lambda p: p.name)
def test_learner_stubs_keep_the_signatures(path: Path) -> None:
    """A solution never starts with the `def` line: the learner copy keeps the function's signature."""
    for code in _code(_load(path)):
        for block in solution_blocks(code):
            first = next((line.strip() for line in block if line.strip()), "")
            assert not re.match(r"(async\s+)?def\s", first), f"{path.name}: put {first!r} above '# BEGIN SOLUTION'"


_WRITES = {"put", "create", "update", "delete", "purge"}


@pytest.mark.parametrize("path", REWRITTEN, ids=lambda p: p.name)
def test_solution_cells_leave_no_stray_output(path: Path) -> None:
    """A bare `await kv.put(...)` as a cell's last line prints a revision: assign it instead."""
    import ast

    for code in _code(_load(path)):
        if not solution_blocks(code):
            continue
        tree = compile(code, path.name, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        body = tree.body  # type: ignore[attr-defined]
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Await) and isinstance(last.value.value, ast.Call):
            func = last.value.value.func
            assert not (isinstance(func, ast.Attribute) and func.attr in _WRITES), \
                f"{path.name}: a solution cell ends with a bare write ({ast.unparse(last)}); assign its result"
