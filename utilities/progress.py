"""Progress bars on stderr: one tqdm bar per stage, shown only on a terminal and never with --quiet."""
from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def stage_bar(desc: str, total: int | None = None, unit: str = "files", **kw: Any) -> tqdm[Any]:
    """Returns a tqdm bar for one stage; disabled when stderr is not a TTY or output is quiet."""
    disable = _quiet or not sys.stderr.isatty()
    if unit == "B":
        kw.update(unit_scale=True, unit_divisor=1024)
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, leave=False, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.2, **kw)
