"""Runs main.py or main_mul.py (argv[1]) for the tests, with two timing knobs and nothing else changed:

- $DUPFINDER_TEST_START_AT (epoch seconds): sleep until then after the imports, so that several
  scanners start at the same moment;
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utilities import cli, hashing, workers  # noqa: E402,F401  (the slow imports, before any barrier)

_DELAY = float(os.environ.get("DUPFINDER_TEST_FULL_DELAY", "0"))
_full_digest = getattr(hashing, "full_digest", None)


def _slow_full_digest(*args, **kwargs):
    time.sleep(_DELAY)
    return _full_digest(*args, **kwargs)


if _DELAY and _full_digest is not None:
    hashing.full_digest = _slow_full_digest

_PARTIAL_DELAY = float(os.environ.get("DUPFINDER_TEST_PARTIAL_DELAY", "0"))
_partial_digest = hashing.partial_digest


def _slow_partial_digest(*args, **kwargs):
    time.sleep(_PARTIAL_DELAY)
    return _partial_digest(*args, **kwargs)


if _PARTIAL_DELAY:
    hashing.partial_digest = _slow_partial_digest

_CHANGE_DELAY = float(os.environ.get("DUPFINDER_TEST_CHANGE_DELAY", "0"))
if _CHANGE_DELAY:      # --apply: every rename of a temporary over a file waits (a kill -9 lands mid-change)
    from utilities.dedupe.leftovers import PREFIX
    _replace = os.replace

    def _slow_replace(src, dst, **kw):
        if os.path.basename(os.fsdecode(src)).startswith(PREFIX):
            time.sleep(_CHANGE_DELAY)
        return _replace(src, dst, **kw)
    os.replace = _slow_replace

if __name__ == "__main__":
    start_at = float(os.environ.get("DUPFINDER_TEST_START_AT", "0"))
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(str(ROOT / script), run_name="__main__")
