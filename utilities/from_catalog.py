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

from sqlalchemy.orm import Session

from . import catalog_groups, exports
from .catalog import Catalog
from .catalog_groups import Filter, Row, Totals
from .errors import EXIT_OK
from .hosts import qualified_path
from .paths import from_db_path
from .report import Group, Report, Summary
from .units import human_bytes

log = logging.getLogger("dupfinder")

HTML_GROUPS = 2_000            # groups the HTML report shows at most (those with the most wasted space)


def run(args: argparse.Namespace, catalog: Catalog, started: float) -> int:
    """Writes the exports and the report of the catalog's groups; returns the exit code."""
    flt = catalog_filter(args)
    with catalog.session() as s:
        totals = catalog_groups.totals(s, flt)
    summary = Summary(files_scanned=totals.rows, bytes_scanned=totals.bytes, duplicate_groups=totals.groups,
                      duplicate_files=totals.files, redundant_files=totals.redundant, wasted_bytes=totals.wasted,
                      errors=0)
    report = Report(roots=list(flt.prefixes), algorithm=args.algorithm, finished=True, summary=summary, groups=[],
                    generated_at=time.time(), database=catalog.masked_url)
    written: list[tuple[str, str]] = []
    if args.json:
        with catalog.session() as s:
            exports.write_json(args.json, report, groups_of(s, flt, catalog.host))
        written.append(("JSON", "stdout" if args.json == "-" else os.path.abspath(args.json)))
    if args.csv:
        with catalog.session() as s:
            exports.write_csv(args.csv, report, groups_of(s, flt, catalog.host))
        written.append(("CSV", "stdout" if args.csv == "-" else os.path.abspath(args.csv)))
    if not args.skip_html:
        from . import html_generator
        with catalog.session() as s:
            top = list(groups_of(s, flt, catalog.host, limit=HTML_GROUPS))
        page = Report(roots=report.roots, algorithm=report.algorithm, finished=True, summary=summary, groups=top,
                      generated_at=report.generated_at, database=report.database,
                      duration_seconds=round(time.time() - started, 3), groups_cap=HTML_GROUPS)
        html_generator.write_report(args.report, page)
        written.append(("report", os.path.abspath(args.report)))
    if not args.quiet:
        _print_summary(totals, flt, catalog, time.time() - started, written)
    return EXIT_OK


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
        if not any(p == o or p.startswith(o.rstrip("/") + "/") for o in out):
            out.append(p)
    return tuple(out)


def groups_of(session: Session, flt: Filter, this_host: str, limit: int | None = None) -> Iterator[Group]:
    """Yields the catalog's groups as report Groups, one at a time, in the stream's order."""
    for rows in catalog_groups.group_rows(session, flt, limit):
        yield as_group(rows, this_host, flt.hard_links)


def as_group(rows: list[Row], this_host: str, hard_links: bool) -> Group:
    """One group from its rows: a file's names (rows of one host, device and inode, unless hard_links) listed
    once under the first in path order, the others in hard_links; other hosts' names as host:/abs/path with
    their scan_date in last_seen."""
    names: dict[object, list[str]] = {}
    last_seen: dict[str, float] = {}
    for i, r in enumerate(rows):
        path = from_db_path(r.path)
        if r.host != this_host:
            path = qualified_path(r.host, path)
            last_seen[path] = r.scan_date
        key: object = i if hard_links else (r.host, r.device, r.inode)
        names.setdefault(key, []).append(path)
    listed: list[str] = []
    links: dict[str, list[str]] = {}
    for group_names in names.values():
        group_names.sort()
        listed.append(group_names[0])
        if len(group_names) > 1:
            links[group_names[0]] = group_names[1:]
    listed.sort()
    return Group(size=rows[0].size, digest=rows[0].digest, paths=listed, hard_links=links,
                 last_seen=dict(sorted(last_seen.items())))


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
    ] + [f"{what + ':':<18}{where_}" for what, where_ in written]
    print("\n".join(lines), file=sys.stderr)
