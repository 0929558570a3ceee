"""Runs main.py or main_mul.py (argv[1]) for the tests, with these knobs and nothing else changed:

- $DUPFINDER_TEST_BARRIER ("FOLDER:N"): after the imports, leave a mark in FOLDER and wait until N marks
  are there, so that N scanners start at the same moment however long each took to start (60 s at most);
- $DUPFINDER_TEST_CHANGE_DELAY (seconds): --apply waits before each rename of a temporary over a file;
- $DUPFINDER_TEST_FULL_DELAY, $DUPFINDER_TEST_PARTIAL_DELAY (seconds): delay each full or partial hash.
  Page-cached files hash at GB/s, too fast for a test to interrupt a stage at a chosen moment; the delay
  only stretches time, the product's code paths are the real ones (workers are forked, so they inherit
  the wrapper)."""
from __future__ import annotations

import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utilities import cli, hashing, workers  # noqa: E402,F401  (the slow imports, before the barrier)

_DELAY = float(os.environ.get("DUPFINDER_TEST_FULL_DELAY", "0"))
_full_digest = hashing.full_digest


def _slow_full_digest(*args: Any, **kwargs: Any) -> Any:
    time.sleep(_DELAY)
    return _full_digest(*args, **kwargs)


def _barrier(spec: str) -> None:
    folder, n = spec.rsplit(":", 1)
    Path(folder, f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while (ready := len(os.listdir(folder))) < int(n):
        if time.monotonic() > deadline:    # the scanners would not run together: the test must not pass
            sys.exit(f"harness: only {ready} of {n} scanners were ready within 60 s")
        time.sleep(0.005)


if _DELAY:
    hashing.full_digest = _slow_full_digest

_PARTIAL_DELAY = float(os.environ.get("DUPFINDER_TEST_PARTIAL_DELAY", "0"))
_partial_digest = hashing.partial_digest


def _slow_partial_digest(*args: Any, **kwargs: Any) -> Any:
    time.sleep(_PARTIAL_DELAY)
    return _partial_digest(*args, **kwargs)


if _PARTIAL_DELAY:
    hashing.partial_digest = _slow_partial_digest

_CHANGE_DELAY = float(os.environ.get("DUPFINDER_TEST_CHANGE_DELAY", "0"))
if _CHANGE_DELAY:      # --apply: every rename of a temporary over a file waits (a kill -9 lands mid-change)
    from utilities.dedupe.leftovers import PREFIX
    _replace = os.replace

    def _slow_replace(src: Any, dst: Any, **kw: Any) -> None:
        if os.path.basename(os.fsdecode(src)).startswith(PREFIX):
            time.sleep(_CHANGE_DELAY)
        return _replace(src, dst, **kw)
    os.replace = _slow_replace

if __name__ == "__main__":
    if os.environ.get("DUPFINDER_TEST_BARRIER"):
        _barrier(os.environ["DUPFINDER_TEST_BARRIER"])
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(str(ROOT / script), run_name="__main__")
