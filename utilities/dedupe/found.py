"""What a scan found, as planning takes it: groups of identical files, each with its stat record as hashed."""
from __future__ import annotations

from typing import NamedTuple

from ..records import Stat


class DupeFile(NamedTuple):
    """One file (inode) of a duplicate group."""
    path: str                          # absolute; undecodable bytes as surrogates (os.fsdecode)
    stat: Stat                         # as hashed: apply requires the file to be exactly this
    root: int                          # index of the command-line root it is under (0 = the first given)
    hard_links: tuple[str, ...] = ()   # its other names under the roots (JSON v2 "hard_links")


class DupeGroup(NamedTuple):
    """Files with the same size and full-content digest."""
    size: int
    digest: str
    files: tuple[DupeFile, ...]


class Findings(NamedTuple):
    """The groups of one scan, with what is needed to check them again later."""
    roots: tuple[str, ...]             # absolute, in command-line order (DupeFile.root indexes this)
    algorithm: str                     # hashing.ALGORITHMS key the digests were made with
    groups: tuple[DupeGroup, ...]
