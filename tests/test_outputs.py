"""Where results go: only the default ./outputs/ folder is made when missing; a folder the user named for
--db-url, -r, --json or --csv must exist, and every refusal comes before the scan, in one line naming it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import main
from _trees import blob, write


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path / "t" / "a", blob(1, 2000))
    write(tmp_path / "t" / "b", blob(1, 2000))
    return tmp_path / "t"


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, captured.err
    assert captured.out == ""
    return lines[0]


def test_mistyped_folders_fail_and_nothing_is_created(tree, tmp_path, capsys):
    """Issue 10, item 5: this exited 0 and created /nonexistent/dir."""
    missing = tmp_path / "nonexistent"
    code = main.main([str(tree), "--db-url", f"sqlite:///{missing / 'dir' / 'x.db'}",
                      "-r", str(missing / "dir" / "r.html"), "--json", str(missing / "x.json")])
    assert code == 1
    line = one_error_line(capsys)
    assert str(missing) in line
    assert not missing.exists()


@pytest.mark.parametrize("option", ["--json", "--csv", "-r", "--db-url"])
def test_each_output_folder_must_exist(option, tree, tmp_path, capsys):
    missing = tmp_path / "no" / "such"
    target = f"sqlite:///{missing / 'c.db'}" if option == "--db-url" else str(missing / "out")
    args = [str(tree), option, target]
    if option != "--db-url":
        args += ["--db-url", f"sqlite:///{tmp_path / 'c.db'}"]
    assert main.main(args) == 1
    assert str(missing) in one_error_line(capsys)
    assert not (tmp_path / "no").exists()
    assert not (tmp_path / "c.db").exists() or option == "--db-url"   # refused before the scan touched the catalog


def test_an_output_that_is_a_folder_is_named_as_given(tree, tmp_path, capsys):
    """Issue 10, item 10: --json /tmp reported an internal temporary name."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main.main([str(tree), "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "--json", str(folder)]) == 1
    line = one_error_line(capsys)
    assert line == f"error: --json {folder}: is a folder, not a file"
    assert os.listdir(folder) == []


def test_the_default_outputs_folder_is_made(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "outputs").exists()
    assert main.main([str(tree), "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "-q"]) == 0
    assert (tmp_path / "outputs" / "hash_report.html").is_file()
