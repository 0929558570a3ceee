"""Sizes, one unit system everywhere (cli-contract.md): K/M/G/T powers of 1000, KiB/MiB/GiB/TiB of 1024."""
from __future__ import annotations

import math
import re
from fractions import Fraction

MAX_SIZE = 2**63 - 1           # bytes; sizes are stored in BIGINT columns

# Lower-cased unit -> bytes. The HTML report's filters read sizes with this very table (its page data).
SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
              "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")     # the report's script has the same pattern
_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def parse_size(text: str) -> int:
    """Returns bytes for '4096', '10K', '1.5MiB', '2GB'; raises ValueError saying what is wrong."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 4096, 100K, 4MiB, 2G)")
    value = int(Fraction(m.group(1)) * SIZE_UNITS[unit])   # exact; float() overflows on long digit strings
    if value > MAX_SIZE:
        raise ValueError(f"size too large: {text[:40]!r} (at most {MAX_SIZE:,} bytes)")
    return value


def human_bytes(n: int | float) -> str:
    """Returns n bytes for people, 1024-based with one decimal: '1,023 B', '1.0 KiB', '3.1 GiB'.

    Rounds half up, as the report's script does (its sizeText), so that page and summary agree.
    """
    n = int(n)
    if n < 1024:
        return f"{n:,} B"
    v, i = float(n), 0
    while v >= 1024 and i < len(_IEC) - 1:
        v /= 1024
        i += 1
    r = math.floor(v * 10 + 0.5) / 10
    if r >= 1024 and i < len(_IEC) - 1:
        r = math.floor(r / 1024 * 10 + 0.5) / 10
        i += 1
    return f"{r:.1f} {_IEC[i]}"
