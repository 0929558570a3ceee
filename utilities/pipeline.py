"""The scan pipeline shared by main.py and main_mul.py; only the runner of hash batches differs.

    1/6 walk -> 2/6 size -> 3/6 catalog -> 4/6 partial hash -> 5/6 full hash -> 6/6 groups

Files are indices into the walk's FileTable. A candidate "unit" is the index of the first path (in path
order) of an inode whose size another inode shares (candidates.Candidates); hard links are one unit.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from . import catalog_lookups, database, walk
from .candidates import Candidates
from .catalog import Catalog
from .catalog_writer import Row, RowWriter
from .hashing import PARTIAL_BLOCK
from .hosts import qualified_path
from .progress import stage_bar
from .records import Hashes, ScanCounts, Stat, StoredFile, hashes_hold
from .report import CatalogFindings, Group, Interruption, Pending, Summary, UniqueFile, sort_groups
from .workers import Result, Runner, Task

log = logging.getLogger(__name__)

BATCH_BYTES = 64 * 2**20         # at most this many bytes of full hashing per batch (and per commit)
STAGES = ("walk", "size", "catalog", "partial hash", "full hash", "groups")
FULL_THREADS = 4                 # at most this many whole files read at once per process: each holds a -c buffer


@dataclass(frozen=True)
class Writers:
    """Who writes which catalog rows, decided once per scan (choose()).

    Full hashes are always committed by whoever computed them, batch by batch (they cost reading).
    """
    partials_by_workers: bool    # partial-stage batches commit their own rows (else the parent's writer)
    parent_thread: bool          # the parent's rows go through a thread that overlaps the hashing

    @classmethod
    def choose(cls, processes: int, dialect: str) -> Writers:
        # PostgreSQL takes writes from several connections at once: with worker processes each commits its
        # own partial batches, so building and sending rows spreads over the cores (medium corpus, -p 2:
        # 2.9 s against 3.8 s through the parent). SQLite has one writer at a time: workers committing their
        # batches wait on each other and on the parent's rows, and stop reading while they do; the parent's
        # writer thread alone is faster (medium, -p 2: cold 4.25 s against 4.6 s, partial stage 2.0 s
        # against 2.45 s; warm 2.72 s against 2.90 s). The parent's own rows go through a thread where that
        # pays: when the parent only waits for workers, or when writes wait on a PostgreSQL server (main.py,
        # medium: 3.5 s against 4.4 s inline). On SQLite in one process the writes are this process' own CPU
        # work and the GIL handover costs more than the overlap (large corpus: partial stage 2.3 s inline,
        # 9.8 s beside a thread).
        return cls(partials_by_workers=processes > 1 and dialect != "sqlite",
                   parent_thread=processes > 1 or dialect != "sqlite")


@dataclass(frozen=True)
class ScanOptions:
    roots: tuple[str, ...]           # absolute, normalized (walk.normalize_roots)
    algorithm: str
    walk: walk.WalkOptions
    writers: Writers
    include_empty: bool = False
    hard_links: bool = False
    batch_size: int = 1000           # rows per statement and per worker commit
    chunk_size: int = 4 * 2**20      # read buffer of a full hash
    read_threads: int = 1            # files each process reads at once (readers.hash_files)
    keep_stats: bool = False         # groups carry each file's stat record (for --action)
    catalog: bool = False            # --catalog: copies are looked for in the whole catalog
    unique: bool = False             # --unique: the files without a copy anywhere are listed


@dataclass
class ScanResult:
    scan_id: int
    finished: bool
    groups: list[Group]              # in report order
    summary: Summary
    counts: ScanCounts
    errors: walk.ErrorLog
    stage_seconds: dict[str, float]
    stopped_by: KeyboardInterrupt | None   # what interrupted the scan, if anything
    stopped_in: str | None                 # the stage it interrupted
    catalog: CatalogFindings | None = None   # with --catalog

    def interruption(self) -> Interruption | None:
        """What an interrupted scan did and did not check; None for a finished scan."""
        if self.stopped_in is None:
            return None
        c, reached = self.counts, STAGES.index(self.stopped_in)
        return Interruption(self.stopped_in,
                            candidates=c.candidates if reached > STAGES.index("size") else None,
                            partial_done=c.partial_hashed + c.partial_reused,
                            full_needed=c.need_full if reached > STAGES.index("partial hash") else None,
                            full_done=c.full_hashed)


def run_scan(opts: ScanOptions, catalog: Catalog, runner: Runner) -> ScanResult:
    """Returns the scan's groups and counts; the catalog is updated as it goes, batch by batch.

    Ctrl-C (or SIGTERM) stops the scan once the batches in hand are committed; the result then has
    finished=False and the groups of what was hashed. It is not re-raised.
    """
    scan = _Scan(opts, catalog, runner)
    elsewhere = found = pending = None
    try:
        files = walk_tree(scan)                                         # 1
        elsewhere = sizes_elsewhere(scan, files)                        # 2 (--catalog)
        cands = find_candidates(scan, files, elsewhere)                 # 2
        known = sync_with_catalog(scan, files, cands)                   # 3
        files.forget_names()               # found by index from here on: the name index may go
    except KeyboardInterrupt as stop:                                   # nothing hashed: no groups
        scan.stop(stop)
        return scan.result([])
    try:
        with RowWriter(catalog, opts.batch_size, threaded=opts.writers.parent_thread) as writer:
            writer.put(stat_rows(files, cands, known))
            survivors = partial_hash(scan, files, cands, known, writer)    # 4
            pending = count_unhashed_elsewhere(scan, files, cands, known, elsewhere)     # 4 (--catalog)
            survivors = hash_whole_elsewhere(files, known, cands, survivors, elsewhere)    # 4 (--catalog)
            full_hash(scan, files, cands, known, survivors)             # 5
            writer.put(unhashed_rows(files, cands, known))
        found = copies_elsewhere(scan, files, cands, known, elsewhere, survivors, pending)   # 6 (--catalog)
    except KeyboardInterrupt as stop:                                   # the groups of what was hashed
        scan.stop(stop)
    groups = group_duplicates(scan, files, cands, known, found)         # 6
    return scan.result(groups, found.findings(scan, files, cands, known, groups) if found else None)


def record_end(catalog: Catalog, result: ScanResult) -> None:
    """Stores how the scan ended, and its counts, in its ScanMetadata row."""
    status = "finished" if result.finished else "interrupted"
    s = result.summary
    catalog.transaction(lambda session: database.finish_scan(
        session, result.scan_id, status, result.counts, duplicate_groups=s.duplicate_groups,
        wasted_bytes=s.wasted_bytes, errors=s.errors))


class _Scan:
    """What every stage shares: options, catalog, runner, counts, the error log, the stage clock."""

    def __init__(self, opts: ScanOptions, catalog: Catalog, runner: Runner) -> None:
        self.opts, self.catalog, self.runner = opts, catalog, runner
        self.counts = ScanCounts()
        self.errors = walk.ErrorLog()
        self.stage_seconds: dict[str, float] = {}
        self.stopped_by: KeyboardInterrupt | None = None
        self.stopped_in: str | None = None
        self.stage = STAGES[0]
        self.scan_id = catalog.transaction(lambda s: database.start_scan(s, opts.roots, opts.algorithm,
                                                                         host=catalog.host))
        self._t0 = time.perf_counter()

    def done(self, stage: str, message: str, *args: object) -> None:
        """Times the stage that just ended, logs one INFO line for it, and moves on to the next."""
        now = time.perf_counter()
        self.stage_seconds[stage] = elapsed = now - self._t0
        self._t0 = now
        log.info("%s: " + message + " (%.2fs)", stage, *args, elapsed)
        self.stage = STAGES[min(STAGES.index(stage) + 1, len(STAGES) - 1)]

    def stop(self, by: KeyboardInterrupt) -> None:
        self.stopped_by, self.stopped_in = by, self.stage
        log.info("interrupted during the %s stage", self.stage)

    def result(self, groups: list[Group], catalog: CatalogFindings | None = None) -> ScanResult:
        c = self.counts
        summary = Summary.of(groups, c.files_scanned, c.bytes_scanned, len(self.errors))
        return ScanResult(self.scan_id, self.stopped_by is None, groups, summary, c, self.errors,
                          self.stage_seconds, self.stopped_by, self.stopped_in, catalog)


# 1 -----------------------------------------------------------------------------------------------
def walk_tree(scan: _Scan) -> walk.FileTable:
    """Returns every regular file under the roots that passes the filters."""
    files = walk.FileTable()
    with stage_bar("1/6 walk") as bar:
        for entry in walk.iter_files(scan.opts.roots, scan.opts.walk, scan.errors):
            files.add(entry)
            bar.update()
    scan.counts.files_scanned = len(files)
    scan.counts.bytes_scanned = sum(files.size)       # less the other names of hard links: see find_candidates
    scan.done("walk", "%d files, %d bytes", len(files), scan.counts.bytes_scanned)
    return files


# 2 -----------------------------------------------------------------------------------------------
def sizes_elsewhere(scan: _Scan, files: walk.FileTable) -> Elsewhere | None:
    """--catalog: returns which sizes of this walk the catalog holds elsewhere (another host, or this host
    outside the roots), in one set-based look-up; None without --catalog."""
    if not scan.opts.catalog:
        return None
    opts = scan.opts
    place = catalog_lookups.Place(scan.catalog.host, opts.roots, opts.algorithm, PARTIAL_BLOCK)
    wanted = {s for s in files.size if s or opts.include_empty}
    with scan.catalog.session() as s:
        sizes = catalog_lookups.sizes_elsewhere(s, place, wanted)
    log.info("catalog: %d of this walk's %d sizes are held elsewhere", len(sizes), len(wanted))
    return Elsewhere(place, sizes)


def find_candidates(scan: _Scan, files: walk.FileTable, elsewhere: Elsewhere | None = None) -> Candidates:
    """Returns the files whose size another file shares (in the walk, or elsewhere in the catalog with
    --catalog), one unit per inode."""
    also = frozenset(elsewhere.sizes) if elsewhere else frozenset()
    cands = Candidates(files, scan.opts.include_empty, scan.opts.hard_links, also)
    scan.counts.candidates = len(cands.reps)
    scan.counts.bytes_scanned -= cands.linked_bytes   # each inode's bytes once (cli-contract.md)
    scan.done("size", "%d candidates after grouping %d files by size", len(cands.reps), len(files))
    return cands


# 3 -----------------------------------------------------------------------------------------------
@dataclass
class Known:
    """Per file index: whether its catalog row still matches it, and its digests (stored ones that
    still hold after the catalog stage, then those the hash stages compute)."""
    unchanged: bytearray
    partial: list[str | None]
    full: list[str | None]
    moved: dict[int, Hashes] = field(default_factory=dict)   # files found under a new path, with their hashes
    written: bytearray = field(init=False)      # 1 for units whose rows this scan wrote with digests

    def __post_init__(self) -> None:
        self.written = bytearray(len(self.unchanged))


def sync_with_catalog(scan: _Scan, files: walk.FileTable, cands: Candidates) -> Known:
    """Returns what this host's catalog rows still vouch for; deletes its rows of files that are gone.

    A stored hash is found by path, or, for a file that kept its whole stat record (device, inode, size,
    mtime_ns, ctime_ns) under a new path, by that record: `mv` of a folder within one file system changes
    none of them for the files inside (fclones' cache is keyed by inode for this reason).
    """
    n, opts, host = len(files), scan.opts, scan.catalog.host
    known = Known(bytearray(n), [None] * n, [None] * n)
    maybe_gone: list[str] = []
    gone_by_stat: dict[Stat, StoredFile] = {}
    with scan.catalog.session() as s:
        for row in database.iter_known(s, opts.roots, host=host):
            i = files.lookup(row.path)
            if i is None:
                maybe_gone.append(row.path)
                if row.hashes is not None:
                    gone_by_stat[row.stat] = row
            elif row.stat == (current := files.stat(i)):
                known.unchanged[i] = 1
                if cands.member[i] and hashes_hold(row, current, opts.algorithm, PARTIAL_BLOCK):
                    _take_stored(known, i, row)
            else:
                log.debug("CHANGED: %s", row.path)
    if gone_by_stat:
        for i in range(n):
            if known.unchanged[i]:
                continue
            current = files.stat(i)
            old = gone_by_stat.get(current)
            if old is not None and old.hashes and hashes_hold(old, current, opts.algorithm, PARTIAL_BLOCK):
                log.debug("MOVED: %s -> %s", old.path, files.path(i))
                known.moved[i] = old.hashes
                if cands.member[i]:
                    _take_stored(known, i, old)
    vanished = [p for p in maybe_gone if not _is_regular_file(p)]    # rows of files filtered out stay
    if vanished:
        scan.catalog.transaction(lambda s: database.delete_paths(s, vanished, opts.batch_size, host=host))
    c = scan.counts
    c.unchanged, c.moved, c.vanished = sum(known.unchanged), len(known.moved), len(vanished)
    scan.done("catalog", "%d unchanged, %d moved, %d new or changed, %d vanished rows deleted", c.unchanged,
              c.moved, n - c.unchanged - c.moved, c.vanished)
    return known


def _take_stored(known: Known, i: int, row: StoredFile) -> None:
    assert row.hashes is not None
    partial, full = row.hashes.partial, row.hashes.full
    # a file read whole has one digest for both: one string object, not two equal ones (200,000 files: 15 MB)
    known.partial[i], known.full[i] = partial, partial if full == partial else full


def stat_rows(files: walk.FileTable, cands: Candidates, known: Known) -> Iterator[Row]:
    """Rows of the new or changed files that no hash stage will write: stat records only, or with the
    hashes they brought from their old path."""
    now = time.time()
    for i in range(len(files)):
        if i in known.moved:
            yield database.file_row(files.path(i), files.stat(i), scanned_at=now, hashes=known.moved[i])
        elif not known.unchanged[i] and not cands.member[i]:
            yield database.file_row(files.path(i), files.stat(i), scanned_at=now)


# 4 -----------------------------------------------------------------------------------------------
def partial_hash(scan: _Scan, files: walk.FileTable, cands: Candidates, known: Known,
                 writer: RowWriter) -> list[int]:
    """Returns the units that still share (size, partial digest) with another and need a full hash."""
    todo = array("i")
    for unit in cands.reps:
        if known.partial[unit] is None or not _names_agree(cands, known, unit):
            known.partial[unit] = known.full[unit] = None
            todo.append(unit)
    scan.counts.partial_reused = len(cands.reps) - len(todo)
    by_workers = scan.opts.writers.partials_by_workers

    def take(res: Result) -> None:
        _absorb(scan, files, res, known.partial)
        for k, unit in enumerate(res.units):
            if res.complete[k]:
                known.full[unit] = res.digests[k]
            known.written[unit] = res.digests[k] is not None
        scan.counts.partial_hashed += len(res.units) - len(res.problems)
        if not by_workers:
            writer.put(_partial_rows(scan, files, cands, res))
        bar.update(len(res.units))

    with stage_bar("4/6 partial hash", total=len(todo)) as bar:
        tasks = (_task(scan, files, cands, "partial", chunk, record=by_workers)
                 for chunk in database.batched(todo, scan.opts.batch_size))
        _run(scan, tasks, take)
    survivors = cands.regroup(known.partial, scan.opts.hard_links)
    need_full = sorted((u for u in survivors if known.full[u] is None), key=files.inode.__getitem__)  # disk order
    scan.done("partial hash", "%d hashed, %d reused; %d candidates after grouping by partial hash, %d need a "
              "full hash", scan.counts.partial_hashed, scan.counts.partial_reused, len(survivors), len(need_full))
    return need_full


def _names_agree(cands: Candidates, known: Known, unit: int) -> bool:
    """All names of one inode must carry the same stored digests, or the inode is hashed again."""
    return all((known.partial[i], known.full[i]) == (known.partial[unit], known.full[unit])
               for i in cands.aliases.get(unit, ()))


def _partial_rows(scan: _Scan, files: walk.FileTable, cands: Candidates, res: Result) -> Iterator[Row]:
    now = time.time()
    for k, (unit, digest) in enumerate(zip(res.units, res.digests, strict=True)):
        if digest is not None:
            hashes = Hashes(scan.opts.algorithm, PARTIAL_BLOCK, digest, digest if res.complete[k] else None, now)
            for i in cands.indices(unit):
                yield database.file_row(files.path(i), files.stat(i), scanned_at=now, hashes=hashes)


@dataclass(frozen=True)
class Elsewhere:
    """--catalog: the sizes of this walk that the catalog holds elsewhere (another host's rows, or this host's
    outside the roots)."""
    place: catalog_lookups.Place
    sizes: set[int]


def hash_whole_elsewhere(files: walk.FileTable, known: Known, cands: Candidates, need_full: list[int],
                         elsewhere: Elsewhere | None) -> list[int]:
    """--catalog: returns need_full with every unit whose size the catalog holds elsewhere and whose full digest
    is not known yet: it is compared with the rows elsewhere by its full digest, on the (size, hash) index.
    (Not first by partial digest: there is no index to find partial digests by, and reading the rows of a
    common size costs more than reading the file; a file of up to 128 KiB is read whole by the partial
    stage anyway, and a big file whose size is held elsewhere is most likely a copy. The full digest also
    lets the host of a row without any hash decide at its next --catalog scan.) Without --catalog,
    need_full as is."""
    if elsewhere is None or not elsewhere.sizes:
        return need_full
    size, sizes, taken = files.size, elsewhere.sizes, set(need_full)
    extra = [u for u in cands.reps if size[u] in sizes and known.full[u] is None and known.partial[u] is not None
             and u not in taken]
    log.info("catalog: %d files whose size is held elsewhere need a full hash", len(extra))
    return sorted(need_full + extra, key=files.inode.__getitem__) if extra else need_full      # disk order


# 5 -----------------------------------------------------------------------------------------------
def full_hash(scan: _Scan, files: walk.FileTable, cands: Candidates, known: Known, units: list[int]) -> None:
    """Computes the full digests of units into known.full; each batch is committed by whoever hashed it."""
    scan.counts.need_full = len(units)
    size = files.size

    def take(res: Result) -> None:
        _absorb(scan, files, res, known.full)
        for unit in res.units:
            known.written[unit] = known.full[unit] is not None
        scan.counts.full_hashed += len(res.units) - len(res.problems)
        bar.update(sum(size[u] for u in res.units))

    with stage_bar("5/6 full hash", total=sum(size[u] for u in units), unit="B") as bar:
        tasks = (_task(scan, files, cands, "full", batch, record=True, known=known)
                 for batch in _byte_batches(units, size, scan.opts.batch_size))
        _run(scan, tasks, take)
    scan.done("full hash", "%d hashed, %d bytes read in all", scan.counts.full_hashed, scan.counts.bytes_read)


def unhashed_rows(files: walk.FileTable, cands: Candidates, known: Known) -> Iterator[Row]:
    """Rows of new or changed candidates that could not be hashed: they still belong in the catalog."""
    now = time.time()
    for i in range(len(files)):
        if cands.member[i] and not known.unchanged[i] and i not in known.moved \
                and not known.written[cands.rep_of.get(i, i)]:
            yield database.file_row(files.path(i), files.stat(i), scanned_at=now)


def _byte_batches(units: list[int], size: array[int], batch_size: int) -> Iterator[list[int]]:
    """Yields batches of at most batch_size files and about BATCH_BYTES bytes (one commit each)."""
    batch: list[int] = []
    total = 0
    for unit in units:
        batch.append(unit)
        total += size[unit]
        if len(batch) >= batch_size or total >= BATCH_BYTES:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


# 6 -----------------------------------------------------------------------------------------------
def count_unhashed_elsewhere(scan: _Scan, files: walk.FileTable, cands: Candidates, known: Known,
                             elsewhere: Elsewhere | None) -> Future[list[catalog_lookups.Unhashed]] | None:
    """--catalog: starts counting, in a thread of its own beside the full-hash stage, the rows elsewhere that
    could be copies of a unit but have no full hash (their partial digest is unknown or a unit's): it needs
    the partial digests only. Returns the future count; None without --catalog."""
    if elsewhere is None:
        return None
    size, sizes = files.size, elsewhere.sizes
    partials: dict[int, set[str]] = {}
    for u in cands.reps:
        partial = known.partial[u]
        if size[u] in sizes and partial is not None:
            partials.setdefault(size[u], set()).add(partial)

    def count() -> list[catalog_lookups.Unhashed]:
        with scan.catalog.session() as s:
            return catalog_lookups.unhashed_elsewhere(s, elsewhere.place, partials)
    pool = ThreadPoolExecutor(1, thread_name_prefix="catalog-count")
    try:
        return pool.submit(count)
    finally:
        pool.shutdown(wait=False)       # the thread ends with its query


def copies_elsewhere(scan: _Scan, files: walk.FileTable, cands: Candidates, known: Known, elsewhere: Elsewhere | None,
                     need_full: list[int], pending: Future[list[catalog_lookups.Unhashed]] | None) -> Found | None:
    """--catalog: returns the rows elsewhere with the size and full digest of a unit, and (from pending) the
    rows elsewhere that could still be copies but have no full hash yet; None without --catalog."""
    if elsewhere is None or pending is None:
        return None
    size, sizes = files.size, elsewhere.sizes
    pairs: set[tuple[int, str]] = set()
    for u in cands.reps:
        full = known.full[u]
        if size[u] in sizes and full is not None:
            pairs.add((size[u], full))
    with scan.catalog.session() as s:
        copies = catalog_lookups.copies_elsewhere(s, elsewhere.place, pairs)
        scans = catalog_lookups.last_scans(s, {c.host for c in copies})
    unhashed = pending.result()
    by_key: dict[tuple[int, str], list[catalog_lookups.Copy]] = {}
    for c in copies:
        by_key.setdefault((c.size, c.digest), []).append(c)
    log.info("catalog: %d rows elsewhere match a file's size and full hash; %d rows elsewhere could be copies "
             "but have no full hash", len(copies), sum(r.rows for r in unhashed))
    return Found(scan.catalog.host, by_key, unhashed, scans, set(need_full))


@dataclass
class Found:
    """What the catalog holds elsewhere for this walk's hashed files (--catalog)."""
    host: str
    copies: dict[tuple[int, str], list[catalog_lookups.Copy]]     # (size, full digest) -> rows elsewhere
    unhashed: list[catalog_lookups.Unhashed]
    scans: dict[str, list[tuple[float, tuple[str, ...]]]]          # host -> its finished scans, latest first
    need_full: set[int]                                            # the units the full-hash stage was given

    def copies_of(self, size: int, digest: str, local: set[tuple[int, int]], hard_links: bool) \
            -> tuple[dict[str, float], dict[str, list[str]]]:
        """Returns the copies elsewhere of (size, digest) as written (host:/abs/path, or a plain path of this
        host) -> when their host last saw them, and the other names of those copies (hard links there). A row
        of this host with the inode of a file under the roots is another name of that file, not a copy."""
        by_file: dict[tuple[str, int, int] | tuple[str, str], list[catalog_lookups.Copy]] = {}
        for c in self.copies.get((size, digest), ()):
            if c.host == self.host and (c.device, c.inode) in local:
                continue
            by_file.setdefault((c.host, c.path) if hard_links else (c.host, c.device, c.inode), []).append(c)
        seen: dict[str, float] = {}
        links: dict[str, list[str]] = {}
        for names in by_file.values():
            names.sort(key=lambda c: c.path)
            first = names[0]
            written = self.written(first)
            seen[written] = catalog_lookups.seen_at(first.path, first.written_at, self.scans.get(first.host, []))
            if len(names) > 1:
                links[written] = sorted(self.written(c) for c in names[1:])
        return seen, links

    def written(self, c: catalog_lookups.Copy) -> str:
        return qualified_path(c.host, c.path, self.host)

    def findings(self, scan: _Scan, files: walk.FileTable, cands: Candidates, known: Known,
                 groups: list[Group]) -> CatalogFindings:
        """The pending rows per host, and with --unique (of a finished scan) the unique and undecided files."""
        per_host: dict[str, list[int]] = {}
        hosts_of: dict[tuple[int, str | None], set[str]] = {}
        for r in self.unhashed:
            counts = per_host.setdefault(r.host, [0, 0])
            counts[0] += r.rows
            counts[1] += r.rows * r.size
            hosts_of.setdefault((r.size, r.partial), set()).add(r.host)
        pending = [Pending(h, n, b) for h, (n, b) in sorted(per_host.items())]
        if not scan.opts.unique or scan.stopped_by is not None:
            return CatalogFindings(pending)
        size, include_empty = files.size, scan.opts.include_empty
        grouped = {p for g in groups for p in g.local_paths}
        unique: list[UniqueFile] = []
        undecided: list[UniqueFile] = []
        alone: dict[tuple[int, int], int] = {}          # files of a size nothing else has: one path per inode
        for i in range(len(files)):
            if not cands.member[i] and (size[i] or include_empty):
                key = (files.device[i], files.inode[i])
                j = alone.get(key)
                if j is None or files.path(i) < files.path(j):
                    alone[key] = i
        unique.extend(UniqueFile(files.path(i), size[i]) for i in alone.values())
        for u in cands.reps:
            partial = known.partial[u]
            if files.path(u) in grouped or partial is None or (u in self.need_full and known.full[u] is None):
                continue                                 # a copy found, or unreadable: neither
            hosts = hosts_of.get((size[u], None), set()) | hosts_of.get((size[u], partial), set())
            (undecided if hosts else unique).append(UniqueFile(files.path(u), size[u], tuple(sorted(hosts))))
        return CatalogFindings(pending, sorted(unique, key=_path_of), sorted(undecided, key=_path_of))


def group_duplicates(scan: _Scan, files: walk.FileTable, cands: Candidates, known: Known,
                     found: Found | None = None) -> list[Group]:
    """Returns the groups of units with the same size and full digest, in report order: one path per
    file (its first in path order) with its other names in hard_links, or with --hard-links every path;
    with --catalog, their copies elsewhere too. After an interruption, the groups of what was hashed."""
    hard_links = scan.opts.hard_links
    groups = []
    for units in cands.groups(known.full, hard_links, singles=found is not None):
        listed = sorted((i for u in units for i in cands.indices(u)) if hard_links else units, key=files.path)
        size, digest = files.size[units[0]], known.full[units[0]] or ""
        seen: dict[str, float] = {}
        links: dict[str, list[str]] = {}
        if found is not None and (size, digest) in found.copies:
            local = {(files.device[i], files.inode[i]) for i in listed}
            seen, links = found.copies_of(size, digest, local, hard_links)
        if len(listed) + len(seen) < 2:
            continue
        other_names = {} if hard_links else {files.path(u): sorted(files.path(i) for i in cands.aliases[u])
                                              for u in listed if u in cands.aliases}
        other_names.update(links)
        stats = tuple(files.stat(i) for i in listed) if scan.opts.keep_stats else ()
        paths = sorted([files.path(i) for i in listed] + list(seen))
        groups.append(Group(size, digest, paths, other_names, last_seen=seen, stats=stats))
    groups = sort_groups(groups)
    scan.done("groups", "%d groups, %d bytes wasted", len(groups), sum(g.wasted for g in groups))
    return groups


# helpers -------------------------------------------------------------------------------------------
def _task(scan: _Scan, files: walk.FileTable, cands: Candidates, kind: str, units: Iterable[int], record: bool,
          known: Known | None = None) -> Task:
    batch = array("i", units)
    aliases = {k: tuple(files.path(i) for i in cands.aliases[u]) for k, u in enumerate(batch) if u in cands.aliases}
    threads = scan.opts.read_threads if kind == "partial" else min(scan.opts.read_threads, FULL_THREADS)
    return Task(kind, scan.opts.algorithm, scan.opts.chunk_size, threads, record, batch, [files.path(u) for u in batch],
                [files.stat(u) for u in batch], [known.partial[u] for u in batch] if known else None, aliases)


def _run(scan: _Scan, tasks: Iterable[Task], take: Callable[[Result], None]) -> None:
    """Runs tasks, handing each result to take(); on Ctrl-C, first takes the results of the batches
    that were already running (they commit all the same), so the counts say what was saved."""
    run = scan.runner.run(tasks)
    try:
        for res in run:
            take(res)
    except KeyboardInterrupt:
        for res in run.drain():
            take(res)
        raise


def _absorb(scan: _Scan, files: walk.FileTable, res: Result, digests: list[str | None]) -> None:
    """Takes a batch's digests into digests[] and its problems into the error log."""
    scan.counts.bytes_read += res.bytes_read
    for unit, digest in zip(res.units, res.digests, strict=True):
        if digest is not None:
            digests[unit] = digest
    for k, problem in res.problems:
        scan.errors.add(files.path(res.units[k]), problem)
        if problem.startswith("changed"):
            scan.counts.changed_during_scan += 1


def _path_of(f: UniqueFile) -> str:
    return f.path


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
