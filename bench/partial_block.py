#!/usr/bin/env python3
"""How big should the partial hash's head and tail blocks be? Prints, per block size, how many
candidates the partial hash leaves for a full hash, how many bytes that stage then reads, and the
partial stage's own time (page cache warm).

    python bench/partial_block.py ../corpora/medium [--sizes 1024,4096,16384,65536]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utilities import hashing, walk
from utilities.candidates import Candidates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--sizes", default="1024,4096,16384,65536")
    ap.add_argument("--algorithm", default=hashing.DEFAULT_ALGORITHM)
    args = ap.parse_args()
    files = walk.FileTable()
    for e in walk.iter_files([os.path.abspath(args.root)], walk.WalkOptions(), walk.ErrorLog()):
        files.add(e)
    cands = Candidates(files)
    print(f"{len(files)} files, {len(cands.reps)} candidates after the size stage\n")
    print("| block | partial stage | bytes read by it | left for full hash | bytes the full stage reads |")
    print("|---|---|---|---|---|")
    for block in map(int, args.sizes.split(",")):
        digests: list[str | None] = [None] * len(files)
        complete = set()
        read = 0
        t0 = time.perf_counter()
        for u in cands.reps:
            digest, whole, n = hashing.partial_digest(files.path(u), files.stat(u), args.algorithm, block)
            digests[u], read = digest, read + n
            if whole:
                complete.add(u)
        seconds = time.perf_counter() - t0
        left = [u for u in cands.regroup(digests, False) if u not in complete]
        full_bytes = sum(files.size[u] for u in left)
        print(f"| {block:,} | {seconds:.2f} s | {read / 2**20:,.0f} MiB | {len(left):,} "
              f"| {full_bytes / 2**20:,.0f} MiB |")


if __name__ == "__main__":
    main()
