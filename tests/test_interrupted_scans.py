"""What an interrupted scan says: the summary counts what was committed in the stage it stopped in, and the
report says what was and was not compared (issue 10, items 8 and 9)."""
from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from _run import start_cli, wait_for
from _trees import age, blob, read_json, write
from utilities.database import FileHash

N_FILES = 400


# signals sent at a moment of a running scan: one worker runs these one after another (see test_interruptions)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scanner-processes")]

@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> Path:
    """400 files of one size in pairs: every one is a candidate, each is read whole by the partial hash."""
    root = tmp_path_factory.mktemp("partial") / "t"
    for i in range(N_FILES):
        write(root / f"d{i % 5}" / f"f{i:03d}", blob(i // 2, 3000))
    age(root)
    return root


def partial_rows(url: str) -> int:
    engine = create_engine(url, connect_args={"timeout": 1})
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(FileHash).where(FileHash.partial_hash.is_not(None)))
    except Exception:       # the table does not exist yet
        return 0
    finally:
        engine.dispose()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("script", ["main.py", "main_mul.py"])
def test_terminated_in_the_partial_stage(script, small_files, tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    extra = ("-p", "2", "-b", "5", "--io-depth", "2") if script == "main_mul.py" else ("-b", "5", "--io-depth", "1")
    proc = start_cli("tests/_harness.py", script, small_files, "--db-url", url, "--json", out, "-r", page, *extra,
                     env={"DUPFINDER_TEST_PARTIAL_DELAY": "0.02"})
    # On SQLite the scanning process writes the partial hashes (with main_mul.py too: pipeline.Writers), in
    # large transactions: wait a quarter of the stage (main_mul.py: 2 processes hash, one file at a time each)
    assert wait_for(lambda: (tmp_path / "c.db").exists() or proc.poll() is not None, timeout=60)
    time.sleep(N_FILES * 0.02 / (4 * (2 if script == "main_mul.py" else 1)))
    assert proc.poll() is None, "the scan ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 143, err
    committed = partial_rows(url)
    said = re.findall(r"terminated during the partial hash stage: ([\d,]+) partial and 0 full hashes were "
                      r"committed", err)
    assert said and int(said[0].replace(",", "")) == committed, err     # 0 were said before (item 8)
    assert 0 < committed < N_FILES
    report = read_json(out)
    assert report["finished"] is False
    html = page.read_text(encoding="utf-8")
    assert "This scan was interrupted during its partial hash stage." in html
    assert f"Of the {N_FILES:,} files sharing a size with another, {committed:,} were compared" in html
    assert "walked, not all compared" in html
