#!/usr/bin/env python3
"""dupFinder with worker processes: the same scan, hashing in -p processes that record their own batches."""
from __future__ import annotations

import sys

from utilities import cli


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, prog="main_mul.py", parallel=True)


if __name__ == "__main__":
    sys.exit(main())
