"""The scan command: roots and options in, the catalog updated, the exports and the report out."""
from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
import time
from contextlib import AbstractContextManager

import tqdm

from . import config, database, exports, hosts, pipeline, progress, readers, walk, workers
from .atomic import check_writable
from .catalog import Catalog
from .errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, ConfigError, Terminated
from .patterns import PathMatcher
from .report import ListedFile, Report
from .units import human_bytes

log = logging.getLogger("dupfinder")


def run(args: argparse.Namespace) -> int:
    """Runs one scan for parsed arguments; returns the exit code. Failures are raised (cli.run says them)."""
    progress.set_quiet(args.quiet)
    tqdm.tqdm.monitor_interval = 0        # no monitor thread: worker processes are forked
    started = time.time()
    if args.apply_plan or args.undo_move:
        return _act_without_scan(args)
    if args.from_catalog:
        return _from_catalog(args, started)
    roots = _check_roots(args.paths)
    _check_outputs(args)
    catalog = open_catalog(args)
    actions = None
    try:
        if args.action:
            from . import act_command  # the dedupe modules load only when there is something to act on
        if args.action and args.apply:
            act_command.clean_leftovers(roots, sys.stderr)
        opts = _scan_options(args, roots, pipeline.Writers.choose(args.processes, catalog.dialect),
                             skip=catalog.own_files())
        runner: AbstractContextManager[workers.Runner] = \
            workers.process_pool(catalog, args.processes) if args.parallel else workers.in_process(catalog)
        with runner as hashers:
            result = pipeline.run_scan(opts, catalog, hashers)
        pipeline.record_end(catalog, result)
        if args.action and result.finished:
            actions = act_command.act(args, catalog, roots, result.groups, args.algorithm)
        all_files = _all_files(catalog, roots) if args.report_all_files and not args.skip_html else None
    finally:
        catalog.close()
    report = Report(roots=list(roots), algorithm=args.algorithm, finished=result.finished, summary=result.summary,
                    groups=result.groups, unreadable=result.errors.items, generated_at=time.time(),
                    database=catalog.masked_url, duration_seconds=round(time.time() - started, 3),
                    all_files=all_files, interruption=result.interruption(), actions=actions,
                    catalog=result.catalog)
    written = _write_outputs(args, report)
    if not args.quiet:
        _print_summary(result, report, written, catalog.host)
    if not result.finished:
        term = isinstance(result.stopped_by, Terminated)
        c = result.counts
        print(f"{'terminated' if term else 'interrupted'} during the {result.stopped_in} stage: "
              f"{c.partial_hashed:,} partial and {c.full_hashed:,} full hashes were committed; "
              "rerun to continue where this scan stopped", file=sys.stderr)
        return EXIT_SIGTERM if term else EXIT_SIGINT
    return EXIT_OK


def _check_outputs(args: argparse.Namespace) -> None:
    """Fails before the scan, not after it, when an output cannot be written where the user said; only
    the default report folder (./outputs/, or the user data folder when installed) is made when missing."""
    wanted = [("--json", args.json), ("--csv", args.csv), ("-r", None if args.skip_html else args.report)]
    for option, path in wanted:
        if not path or path == "-":
            continue
        if option == "-r" and path == args.where.report:
            args.where.outputs.mkdir(parents=True, exist_ok=True)
        try:
            check_writable(path)
        except OSError as e:
            raise ConfigError(f"{option} {path}: {e.filename}: {e.strerror}" if e.filename != path
                                     else f"{option} {path}: {e.strerror}") from None


def open_catalog(args: argparse.Namespace) -> Catalog:
    """Returns the catalog the arguments name (--db-url, the environment, the config file), ready: its
    schema upgraded if need be, for the host of --host, the config, or the machine."""
    settings = config.resolve_database(args.db_url, args.config, args.where)
    catalog = Catalog(settings.url, create_folder=not settings.named_by_user, host=_host(args))
    try:
        catalog.initialize()
    except BaseException:
        catalog.close()
        raise
    log.info("database: %s (from %s), host %s", catalog.masked_url, settings.source, catalog.host)
    return catalog


def _act_without_scan(args: argparse.Namespace) -> int:
    """--apply-plan PATH or --undo-move ID|all: no scan, the catalog for the journal and its rows."""
    from . import act_command
    catalog = open_catalog(args)
    try:
        return act_command.apply_plan_file(args, catalog) if args.apply_plan else act_command.undo(args, catalog)
    finally:
        catalog.close()


def _from_catalog(args: argparse.Namespace, started: float) -> int:
    """--from-catalog: no walk; the catalog's duplicate groups written out (from_catalog.py)."""
    from . import from_catalog
    _check_outputs(args)
    catalog = open_catalog(args)
    try:
        return from_catalog.run(args, catalog, started)
    finally:
        catalog.close()


def _host(args: argparse.Namespace) -> str:
    """The host this scan's rows belong to: --host, else "host" in the config file, else the host name."""
    if args.host:
        return str(args.host)
    try:
        return config.configured_host(args.config, args.where) or hosts.machine_host()
    except ValueError as e:    # a host name that cannot name a host
        raise ConfigError(str(e)) from None


def _scan_options(args: argparse.Namespace, roots: list[str], writers: pipeline.Writers,
                  skip: frozenset[str]) -> pipeline.ScanOptions:
    exclude = PathMatcher.compile(args.exclude, roots, "--exclude") if args.exclude else None
    for warning in exclude.warnings if exclude else ():
        log.warning("%s", warning)
    depth = args.io_depth or readers.io_depth(roots)
    return pipeline.ScanOptions(
        roots=tuple(roots), algorithm=args.algorithm, writers=writers, include_empty=args.include_empty,
        hard_links=args.hard_links, batch_size=args.batch_size, chunk_size=args.chunk_size,
        read_threads=-(-depth // args.processes),           # the depth shared by the processes
        keep_stats=bool(args.action), catalog=bool(args.catalog), unique=bool(args.unique),
        walk=walk.WalkOptions(min_size=args.min_size, max_size=args.max_size, include_empty=args.include_empty,
                              exclude=exclude, skip=skip, follow_symlinks=args.follow_symlinks,
                              one_file_system=args.one_file_system))


def _all_files(catalog: Catalog, roots: list[str]) -> list[ListedFile]:
    with catalog.session() as s:
        out = [ListedFile(f.path, f.stat.size, f.hashes.full if f.hashes else None)
               for f in database.iter_known(s, roots, host=catalog.host)]
    out.sort(key=lambda f: f.path)
    return out


def _write_outputs(args: argparse.Namespace, report: Report) -> list[tuple[str, str]]:
    """Writes the exports and the report; returns (what, where) for the summary."""
    written = []
    if args.json:
        exports.write_json(args.json, report)
        written.append(("JSON", exports.place(args.json)))
    if args.csv:
        exports.write_csv(args.csv, report)
        written.append(("CSV", exports.place(args.csv)))
    if not args.skip_html:
        from . import html_generator
        html_generator.write_report(args.report, report)
        written.append(("report", exports.place(args.report)))
    return written


def _print_summary(result: pipeline.ScanResult, report: Report, written: list[tuple[str, str]], host: str) -> None:
    c, s = result.counts, report.summary
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.stage_seconds.items())
    lines = [
        f"files scanned:    {s.files_scanned:,} ({human_bytes(s.bytes_scanned)})",
        f"candidates:       {c.candidates:,} same-size files; {c.partial_hashed:,} partial and "
        f"{c.full_hashed:,} full hashes computed, {c.partial_reused:,} files reused from the catalog"
        + (f" ({c.moved:,} found under a new path)" if c.moved else ""),
        f"bytes read:       {human_bytes(c.bytes_read)}",
        f"duplicate groups: {s.duplicate_groups:,} ({s.duplicate_files:,} files), "
        f"wasted space {human_bytes(s.wasted_bytes)}",
        f"errors:           {s.errors:,}" + (" (run with -v to list them; also in the report)" if s.errors else "")
        + (f", {c.changed_during_scan:,} changed during the scan" if c.changed_during_scan else ""),
        f"time:             {report.duration_seconds:.2f}s ({stages})",
        f"database:         {report.database} (host {host})",
        *_catalog_lines(report),
        *exports.place_lines(written),
    ]
    print("\n".join(lines), file=sys.stderr)


def _catalog_lines(report: Report) -> list[str]:
    """--catalog: the rows elsewhere that only their host can hash; --unique: the files without a copy."""
    found = report.catalog
    if found is None:
        return []
    lines = []
    if found.pending:
        first = found.pending[0]
        each = ", ".join([f"{first.rows:,} row{'s' if first.rows != 1 else ''} on {first.host}"]
                         + [f"{p.rows:,} on {p.host}" for p in found.pending[1:]])
        verb = "has" if len(found.pending) == 1 and first.rows == 1 else "have"
        lines.append(f"{'pending:':<18}{each} {verb} no hash yet: scan those hosts with --catalog")
    else:
        lines.append(f"{'pending:':<18}none: every row elsewhere that could be a copy is hashed")
    if found.unique is not None and found.undecided is not None:
        undecided = len(found.undecided)
        hosts = sorted({h for f in found.undecided for h in f.hosts})
        lines.append(f"{'unique files:':<18}{len(found.unique):,} ({human_bytes(sum(f.size for f in found.unique))}) "
                     f"have no copy anywhere in the catalog; {undecided:,} not yet decidable"
                     + (f" (scan {', '.join(hosts)} with --catalog)" if hosts else ""))
    return lines


def _check_roots(paths: list[str]) -> list[str]:
    """Returns the normalized roots; raises ConfigError for a missing root or one that is not a file or dir."""
    for p in paths:
        try:
            mode = os.stat(p).st_mode
        except OSError as e:
            raise ConfigError(f"{p}: {e.strerror or e}") from None
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise ConfigError(f"{p}: not a directory or regular file")
    return walk.normalize_roots(paths)
