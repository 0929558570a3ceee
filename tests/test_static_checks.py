"""The static checks of pyproject.toml run with the suite, so that `python3 -m pytest -q` (and CI) fails on
a lint or type error: ruff on the whole checkout, mypy --strict on utilities/."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from _run import IN_CI
from _trees import ROOT


def _run_tool(module: str, *args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec(module) is None:
        why = f"{module} is not installed (pip install -r requirements-dev.txt)"
        if IN_CI:
            pytest.fail(f"CI=true: {why}", pytrace=False)
        pytest.skip(why)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_finds_nothing():
    proc = _run_tool("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_finds_nothing():
    proc = _run_tool("mypy")          # files and strictness from [tool.mypy] in pyproject.toml
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success: no issues found"), proc.stdout
