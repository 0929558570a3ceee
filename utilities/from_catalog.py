"""--from-catalog: no walk, no hashing; the duplicate groups already in the catalog (every host, or --host's;
PATHs, if given, are path prefixes to keep), written as a scan writes its exports and report.

The JSON and CSV exports are streamed from the catalog, one group at a time (catalog_groups.group_rows), most
wasted space first; the summary's figures come from one aggregate pass before, so that the JSON's head is
written first. The HTML report, which a browser must hold whole, gets the HTML_GROUPS groups with the most wasted
space and says so; its totals are for all groups.

Paths of this run's host (--host, else the config's, else the machine's) are written plain, other hosts' as
host:/abs/path, and every group lists in "last_seen" when each other host's path was last seen (its row's
scan_date). In this mode files_scanned and bytes_scanned count the catalog rows the filter kept (nothing is walked).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

from sqlalchemy.orm import Session

from . import catalog_groups, exports
from .catalog import Catalog
from .catalog_groups import Filter, GroupRows, Totals
from .errors import EXIT_OK
from .hosts import qualified_path
from .paths import from_db_path, is_under
from .report import Group, Report, Summary
from .units import human_bytes

log = logging.getLogger("dupfinder")

HTML_GROUPS = 2_000            # groups the HTML report shows at most (those with the most wasted space)


def run(args: argparse.Namespace, catalog: Catalog, started: float) -> int:
    """Writes the exports and the report of the catalog's groups; returns the exit code."""
    flt = catalog_filter(args)
    written: list[tuple[str, str]] = []
    top: list[Group] = []               # the report's groups, gathered while an export streams them all
    with catalog.session() as s:
        streams = [("JSON", args.json, exports.write_json), ("CSV", args.csv, exports.write_csv)]
        streams = [st for st in streams if st[1]]
        if not streams:                 # the report alone: the first groups only (or, without it, the totals)
            totals, groups = open_groups(s, flt, catalog.host, limit=1 if args.skip_html else HTML_GROUPS)
            top = [] if args.skip_html else list(groups)
        for i, (what, path, write) in enumerate(streams):
            totals, groups = open_groups(s, flt, catalog.host)
            report = _report(args, flt, catalog, totals)
            write(path, report, _gather(groups, top, HTML_GROUPS if i == 0 and not args.skip_html else 0))
            written.append((what, exports.place(path)))
    if not args.skip_html:
        from . import html_generator
        page = replace(_report(args, flt, catalog, totals), groups=top,
                       duration_seconds=round(time.time() - started, 3), groups_cap=HTML_GROUPS)
        html_generator.write_report(args.report, page)
        written.append(("report", exports.place(args.report)))
    if not args.quiet:
        _print_summary(totals, flt, catalog, time.time() - started, written)
    return EXIT_OK


def _report(args: argparse.Namespace, flt: Filter, catalog: Catalog, t: Totals) -> Report:
    summary = Summary(files_scanned=t.rows, bytes_scanned=t.bytes, duplicate_groups=t.groups,
                      duplicate_files=t.files, redundant_files=t.redundant, wasted_bytes=t.wasted, errors=0)
    return Report(roots=list(flt.prefixes), algorithm=args.algorithm, finished=True, summary=summary, groups=[],
                  generated_at=time.time(), database=catalog.masked_url)


def _gather(groups: Iterator[Group], into: list[Group], n: int) -> Iterator[Group]:
    """Yields groups, keeping the first n in into (for the report) on the way."""
    for g in groups:
        if len(into) < n:
            into.append(g)
        yield g


def open_groups(session: Session, flt: Filter, this_host: str, limit: int | None = None) \
        -> tuple[Totals, Iterator[Group]]:
    """Returns the totals of the catalog's groups and an iterator of them as report Groups, one at a time,
    most wasted space first (all, or the first limit)."""
    totals, groups = catalog_groups.groups(session, flt, limit)
    return totals, (as_group(g, this_host, flt.hard_links) for g in groups)


def catalog_filter(args: argparse.Namespace) -> Filter:
    """The rows the arguments keep: --host only when given (args.host None otherwise: every host), PATHs as
    absolute, normalized prefixes (they need not exist here: they may name another host's folders)."""
    return Filter(host=args.host, prefixes=path_prefixes(args.paths), min_size=args.min_size, max_size=args.max_size,
                  include_empty=args.include_empty, hard_links=args.hard_links)


def path_prefixes(paths: list[str]) -> tuple[str, ...]:
    """Absolute, normalized prefixes, sorted, without one that lies inside another. Symbolic links are not
    resolved, nor is anything looked up on disk: a prefix may name a folder of another machine."""
    out: list[str] = []
    for p in sorted({os.path.abspath(p) for p in paths}):
        if not any(is_under(p, o) for o in out):
            out.append(p)
    return tuple(out)


def as_group(group: GroupRows, this_host: str, hard_links: bool) -> Group:
    """One group from its rows: a file's names (rows of one host, device and inode, unless hard_links) listed
    once under the first in path order, the others in hard_links; other hosts' names as host:/abs/path with
    their scan_date in last_seen."""
    names: list[str] = []
    seen: dict[str, float] = {}
    for host, stored, date in zip(group.hosts, group.paths, group.dates, strict=True):
        path = from_db_path(stored) if "\\" in stored else stored     # (from_db_path's own test, without a call)
        if host != this_host:
            path = qualified_path(host, path)
            seen[path] = date
        names.append(path)
    links: dict[str, list[str]] = {}
    if hard_links or group.devices is None or group.inodes is None:     # no file with two names here
        listed = sorted(names)
    else:
        by_file: dict[tuple[str, int, int], list[str]] = {}
        for name, key in zip(names, zip(group.hosts, group.devices, group.inodes, strict=True), strict=True):
            by_file.setdefault(key, []).append(name)
        listed = []
        for file_names in by_file.values():
            if len(file_names) > 1:
                file_names.sort()
                links[file_names[0]] = file_names[1:]
            listed.append(file_names[0])
        listed.sort()
    last_seen = dict(sorted(seen.items())) if len(seen) > 1 else seen      # in path order: the same text each run
    return Group(size=group.size, digest=group.digest, paths=listed, hard_links=links, last_seen=last_seen)


def _print_summary(totals: Totals, flt: Filter, catalog: Catalog, seconds: float,
                   written: list[tuple[str, str]]) -> None:
    where = f"host {flt.host}" if flt.host is not None else "every host"
    if flt.prefixes:
        where += ", under " + ", ".join(flt.prefixes)
    lines = [
        f"from the catalog: {totals.rows:,} files ({human_bytes(totals.bytes)}) of {where}; nothing scanned",
        f"duplicate groups: {totals.groups:,} ({totals.files:,} files), wasted space {human_bytes(totals.wasted)}",
        f"time:             {seconds:.2f}s",
        f"database:         {catalog.masked_url} (host {catalog.host})",
        *exports.place_lines(written),
    ]
    print("\n".join(lines), file=sys.stderr)
