"""What a scan found, typed and computed once: duplicate groups, the summary figures, the report that
the JSON and CSV exports and the HTML page are written from."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .records import Stat


@dataclass(frozen=True)
class Group:
    """Files with the same size and the same full-content digest; paths sorted, one per file."""
    size: int
    digest: str
    paths: list[str]
    # listed path -> the file's other names under the roots (hard links), for the files that have any
    hard_links: dict[str, list[str]] = field(default_factory=dict)
    # With --catalog: the copies this run did not see (other hosts' as host:/abs/path, this host's outside the
    # roots as plain paths) -> when their host last saw them (epoch seconds); the other paths are this walk's.
    # With --from-catalog: other hosts' paths (listed or hard links) -> when that host last saw them.
    last_seen: dict[str, float] = field(default_factory=dict)
    stats: tuple[Stat, ...] = ()       # the stat record as hashed of each local path (not in last_seen), in order

    @property
    def local_paths(self) -> list[str]:
        """The paths of this walk: the files that this run may act on."""
        return [p for p in self.paths if p not in self.last_seen] if self.last_seen else self.paths

    @property
    def count(self) -> int:
        return len(self.paths)

    @property
    def wasted(self) -> int:
        """Bytes freed if all copies but one went."""
        return self.size * (len(self.paths) - 1)


def sort_groups(groups: Iterable[Group]) -> list[Group]:
    """Returns groups in report order: most wasted space first, then by first path."""
    return sorted(groups, key=lambda g: (-g.wasted, g.paths[0]))


@dataclass(frozen=True)
class Summary:
    """The contract's summary figures (cli-contract.md, JSON export)."""
    files_scanned: int
    bytes_scanned: int
    duplicate_groups: int
    duplicate_files: int           # all files in groups
    redundant_files: int           # the copies beyond the first of each group
    wasted_bytes: int
    errors: int

    @classmethod
    def of(cls, groups: list[Group], files_scanned: int, bytes_scanned: int, errors: int) -> Summary:
        return cls(files_scanned=files_scanned, bytes_scanned=bytes_scanned, duplicate_groups=len(groups),
                   duplicate_files=sum(g.count for g in groups), redundant_files=sum(g.count - 1 for g in groups),
                   wasted_bytes=sum(g.wasted for g in groups), errors=errors)


@dataclass(frozen=True)
class ListedFile:
    """One scanned file, for the report's optional table of all files."""
    path: str
    size: int
    digest: str | None


@dataclass(frozen=True)
class Interruption:
    """How far an interrupted scan got: what was and was not checked."""
    stage: str                     # the stage that was running (pipeline.STAGES)
    candidates: int | None         # files sharing their size with another; None if the walk did not end
    partial_done: int              # candidates whose partial digest was computed or still held
    full_needed: int | None        # None when the partial stage did not end
    full_done: int


@dataclass(frozen=True)
class ActionMarks:
    """What --action planned (a dry run) or did, as the report shows it: per path the kept copy and the
    operation, and the space freed."""
    title: str                     # e.g. "--action hardlink, dry run"
    label: str                     # "the plan would free" / "freed"
    bytes: int
    marks: dict[str, str]          # path (a listed file or another name of it) -> what happens to it
    detail: str = ""


@dataclass(frozen=True)
class Pending:
    """Rows of one host that may be copies of files under the roots but have no full hash yet (--catalog):
    only that host can hash them, the next time it scans with --catalog."""
    host: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class UniqueFile:
    """--unique: a file under the roots with no copy anywhere in the catalog (hosts empty), or one that may
    still have one: rows of its size on these hosts have no hash yet (not yet decidable)."""
    path: str
    size: int
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogFindings:
    """What --catalog and --unique add to a scan's report."""
    pending: list[Pending]
    unique: list[UniqueFile] | None = None           # with --unique, in path order
    undecided: list[UniqueFile] | None = None        # with --unique, in path order


@dataclass(frozen=True)
class Report:
    """Everything the exports and the HTML page show; built once per run (cli)."""
    roots: list[str]
    algorithm: str
    finished: bool
    summary: Summary
    groups: list[Group]                                   # in report order (sort_groups)
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (path, reason)
    generated_at: float = 0.0                             # epoch seconds
    database: str = ""                                    # the catalog's URL, password masked
    duration_seconds: float | None = None
    all_files: list[ListedFile] | None = None             # with --report-all-files
    interruption: Interruption | None = None              # when finished is False
    actions: ActionMarks | None = None                    # with --action
    catalog: CatalogFindings | None = None                # with --catalog
    # --from-catalog: groups holds only the first groups_cap groups by wasted space (summary: all of them)
    groups_cap: int | None = None
