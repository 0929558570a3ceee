#!/usr/bin/env python3
"""dupFinder with worker processes: the same scan, hashing in -p processes that record their own batches."""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from utilities import cli, workers


@contextlib.contextmanager
def process_pool(args: argparse.Namespace, db_url: str) -> Iterator[workers.Runner]:
    """Yields a runner over -p worker processes, each with its own engine and ORM session."""
    with ProcessPoolExecutor(max_workers=args.processes, mp_context=multiprocessing.get_context("fork"),
                             initializer=workers.init_worker, initargs=(db_url,)) as pool:
        pool.submit(int)   # start the workers now: they set up while this process walks the tree
        yield workers.pool_runner(pool, in_flight=2 * args.processes)


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, prog="main_mul.py", runner_factory=process_pool, parallel=True)


if __name__ == "__main__":
    sys.exit(main())
