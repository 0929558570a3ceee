"""units.py: sizes as people write them (the command line, the report's filters) and as the summary and the
report show them."""
from __future__ import annotations

import pytest

from utilities.units import human_bytes, parse_size


@pytest.mark.parametrize("text, expected", [
    ("0", 0), ("4096", 4096), ("10K", 10_000), ("10kb", 10_000), ("4MiB", 4 * 2**20), ("1.5 GiB", 3 * 2**29),
    ("2G", 2 * 10**9), ("1T", 10**12),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["-1", "ten", "4 MiBs", "", "1e3", "0x10"])
def test_parse_size_rejects_garbage(text):
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize("n,text", [
    (0, "0 B"), (1, "1 B"), (1023, "1,023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (1310720, "1.3 MiB"),                    # 1.25 MiB: halves round up, as in the page's script
    (1048575, "1.0 MiB"),                    # 1023.999 KiB is not "1024.0 KiB"
    (3328599654, "3.1 GiB"), (5 * 2**40, "5.0 TiB"), (10 * 2**30 - 1, "10.0 GiB"),
    (3 * 2**30 + 2**29, "3.5 GiB"), (2**50, "1.0 PiB"),
])
def test_human_bytes(n, text):
    assert human_bytes(n) == text
