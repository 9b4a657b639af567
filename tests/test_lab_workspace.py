"""`make lab` opens the learner's own copies (no solutions) and never overwrites what the learner wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kvnb import cli
from kvnb.learner import BEGIN, fill_workspace, write_learner_copies

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's notebooks/ and learner/ in a fresh folder, which is the cwd."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(ROOT / "learner", tmp_path / "learner")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_lab_opens_learner_copies_without_solutions(course: Path) -> None:
    root = cli._notebook_dir(None)
    assert root == course / cli.WORKSPACE
    names = sorted(p.name for p in root.glob("*.ipynb"))
    assert names == sorted(p.name for p in (course / "learner").glob("*.ipynb"))
    for path in root.glob("*.ipynb"):
        code = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert not any(BEGIN in source for source in code), f"{path.name} shows a solution"
    assert (root / "README.md").is_file()  # the course map comes along
    assert cli._notebook_dir(None, solutions=True) == course / "notebooks"


def test_an_edited_copy_is_never_overwritten_and_an_unedited_one_is_updated(course: Path) -> None:
    workspace = course / cli.WORKSPACE
    assert fill_workspace(course / "learner", workspace) == []
    mine, untouched = sorted(workspace.glob("0*.ipynb"))[1:3]
    nb = json.loads(mine.read_text())
    nb["cells"][0]["source"] = ["my own notes\n"]
    mine.write_text(json.dumps(nb))
    edited = mine.read_text()

    # the course changes both notebooks
    for path in (mine, untouched):
        solved = course / "notebooks" / path.name
        nb = json.loads(solved.read_text())
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["A new section.\n"]})
        solved.write_text(json.dumps(nb, indent=1))
    assert write_learner_copies(course / "notebooks", course / "learner") == 0

    notes = fill_workspace(course / "learner", workspace)
    assert mine.read_text() == edited, "the learner's edits were overwritten"
    assert "A new section." in untouched.read_text()
    assert any(mine.name in n and "kept your edited" in n for n in notes), notes
    assert any(untouched.name in n and "updated" in n for n in notes), notes


def test_a_deleted_copy_comes_back(course: Path) -> None:
    workspace = course / cli.WORKSPACE
    fill_workspace(course / "learner", workspace)
    first = sorted(workspace.glob("*.ipynb"))[0]
    first.unlink()
    fill_workspace(course / "learner", workspace)
    assert first.exists()
