"""Learner copies: solutions replaced by placeholders, generation is current, edited copies are kept."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from kvnb import learner
from kvnb.learner import (
    PLACEHOLDER,
    SolutionMarkerError,
    learner_notebook,
    learner_source,
    solution_blocks,
    write_learner_copies,
)
from kvnb.notebook_tools import problems

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _nb(*cells: tuple[str, str]) -> dict:
    out = []
    for i, (kind, source) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=3, outputs=[{"output_type": "stream", "name": "stdout", "text": "42\n"}])
        out.append(cell)
    return {"cells": out, "metadata": {"widgets": {"x": 1}}, "nbformat": 4, "nbformat_minor": 5}


def _text(cell: dict) -> str:
    return "".join(cell["source"])


def test_a_solution_becomes_the_placeholder_at_its_indentation() -> None:
    source = (
        "x = 1\n"
        "# BEGIN SOLUTION\n"
        "answer = x + 1\n"
        "# END SOLUTION\n"
        "async def f(kv):\n"
        "    # BEGIN SOLUTION\n"
        "    return await kv.get('k')\n"
        "    # END SOLUTION\n"
        "print(answer)\n"
    )
    out = learner_source(source)
    assert out == (
        "x = 1\n"
        f"{PLACEHOLDER[0]}\n{PLACEHOLDER[1]}\n"
        "async def f(kv):\n"
        f"    {PLACEHOLDER[0]}\n    {PLACEHOLDER[1]}\n"
        "print(answer)\n"
    )
    assert solution_blocks(source) == [["answer = x + 1\n"], ["    return await kv.get('k')\n"]]
    ast.parse(out)  # still valid Python


def test_source_without_markers_is_unchanged() -> None:
    source = "print('# BEGIN SOLUTION is only a marker on a line of its own')\n"
    assert learner_source(source) == source


@pytest.mark.parametrize(("source", "why"), [
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside another solution"),
    ("def f():\n    # BEGIN SOLUTION\n    pass\n# END SOLUTION\n", "indented differently"),
])
def test_unbalanced_markers_are_refused_with_the_rule(source: str, why: str) -> None:
    with pytest.raises(SolutionMarkerError) as info:
        learner_source(source)
    assert why in str(info.value) and "Rule:" in str(info.value)


def test_learner_notebook_strips_outputs_and_keeps_the_source_notebook() -> None:
    nb = _nb(("markdown", "# BEGIN SOLUTION (in markdown: left alone)"),
             ("code", "# BEGIN SOLUTION\nsecret = 42\n# END SOLUTION\nprint(secret)"))
    out = learner_notebook(nb, source_name="x.ipynb")
    assert problems(out) == []
    assert "secret = 42" not in _text(out["cells"][1]) and PLACEHOLDER[1] in _text(out["cells"][1])
    assert _text(out["cells"][0]) == "# BEGIN SOLUTION (in markdown: left alone)"
    assert out["metadata"]["kvnb"]["learner_copy_of"] == "x.ipynb"
    assert "secret = 42" in _text(nb["cells"][1]) and nb["cells"][1]["outputs"]  # the input is untouched


def test_a_marker_error_names_the_notebook_and_cell(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "01_x.ipynb").write_text(json.dumps(_nb(("code", "ok = 1"), ("code", "# BEGIN SOLUTION\nx = 1"))))
    with pytest.raises(SolutionMarkerError, match=r"01_x.ipynb cell 2"):
        learner_notebook(json.loads((src / "01_x.ipynb").read_text()), source_name="01_x.ipynb")
    assert write_learner_copies(src, tmp_path / "out") == 1


def test_write_check_and_keep_edited_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dest = tmp_path / "src", tmp_path / "learner"
    src.mkdir()
    (src / "01_a.ipynb").write_text(json.dumps(_nb(("code", "# BEGIN SOLUTION\nanswer = 1\n# END SOLUTION"))))
    (src / "02_b.ipynb").write_text(json.dumps(_nb(("code", "print('no exercise')"))))

    assert write_learner_copies(src, dest, check=True) == 1          # missing
    assert "missing" in capsys.readouterr().err
    assert write_learner_copies(src, dest) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    assert write_learner_copies(src, dest, check=True) == 0          # current

    (src / "01_a.ipynb").write_text(json.dumps(_nb(("code", "# BEGIN SOLUTION\nanswer = 2\n# END SOLUTION\n# new"))))
    assert write_learner_copies(src, dest, check=True) == 1          # stale
    assert "out of date" in capsys.readouterr().err

    # the learner worked in 02_b: regenerating keeps their work unless forced
    copy = json.loads((dest / "02_b.ipynb").read_text())
    copy["cells"][0]["source"] = ["print('my own experiment')"]
    (dest / "02_b.ipynb").write_text(json.dumps(copy))
    (src / "02_b.ipynb").write_text(json.dumps(_nb(("code", "print('changed upstream')"))))
    assert write_learner_copies(src, dest) == 0
    assert "kept" in capsys.readouterr().out
    assert "my own experiment" in (dest / "02_b.ipynb").read_text()
    assert "answer = 2" not in (dest / "01_a.ipynb").read_text() and "# new" in (dest / "01_a.ipynb").read_text()
    assert write_learner_copies(src, dest, force=True) == 0
    assert "changed upstream" in (dest / "02_b.ipynb").read_text()
    assert write_learner_copies(src, dest, check=True) == 0


def test_an_empty_source_folder_is_an_error(tmp_path: Path) -> None:
    assert write_learner_copies(tmp_path, tmp_path / "out") == 1


def test_the_course_notebooks_make_clean_learner_copies(tmp_path: Path) -> None:
    """Every solution of the real notebooks disappears from the copies, which still compile."""
    sources = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert sources, "no notebooks found"
    assert learner.main([str(NOTEBOOKS), str(tmp_path)]) == 0
    assert learner.main(["--check", str(NOTEBOOKS), str(tmp_path)]) == 0
    for path in sources:
        solved = json.loads(path.read_text())
        copy = json.loads((tmp_path / path.name).read_text())
        assert problems(copy) == [], path.name
        assert len(copy["cells"]) == len(solved["cells"])
        for index, (cell, learner_cell) in enumerate(zip(solved["cells"], copy["cells"], strict=True)):
            if cell["cell_type"] != "code":
                assert learner_cell["source"] == cell["source"]
                continue
            blocks = solution_blocks(_text(cell))
            learner_code = _text(learner_cell)
            where = f"{path.name} cell {index + 1}"
            assert learner_code.count(PLACEHOLDER[1]) == len(blocks), where
            for line in (line for block in blocks for line in block):
                if line.strip():   # every line of a solution is gone from its cell
                    assert line.rstrip("\n") not in learner_code.splitlines(), f"{where}: solution line left: {line!r}"
            compile(learner_code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
