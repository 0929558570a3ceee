#!/usr/bin/env python3
"""dupFinder, one process: find byte-identical files and keep a catalog in a database."""
from __future__ import annotations

import sys

from utilities import cli


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, prog="main.py")


if __name__ == "__main__":
    sys.exit(main())
