"""Command line: the parser both entry points share, and run(), the only code that prints or picks exit codes."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import stat
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from fractions import Fraction
from typing import Any

import tqdm
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from . import config, database, exports, pipeline, progress, walk, workers
from .hashing import ALGORITHMS, DEFAULT_ALGORITHM, DEFAULT_CHUNK
from .paths import display_path

log = logging.getLogger("dupfinder")

DEFAULT_REPORT = "./outputs/hash_report.html"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143
MAX_PROCESSES = 256            # worker processes; each holds a read buffer and a database connection
MAX_CHUNK = 2**30              # bytes of read buffer per process
MAX_BATCH = 1_000_000          # rows per commit
MAX_SIZE = 2**63 - 1           # bytes; sizes are stored in BIGINT columns

# Returns a context manager that yields the runner of hash batches, given the database URL (with password).
RunnerFactory = Callable[[argparse.Namespace, str], AbstractContextManager[workers.Runner]]

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int:
    """Returns bytes for '4096', '10K', '1.5MiB', '2GB' (K, M, G: powers of 1000; KiB...: of 1024)."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 4096, 100K, 4MiB, 2G)")
    value = int(Fraction(m.group(1)) * _UNITS[unit])   # exact; float() overflows on long digit strings
    if value > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size too large: {text[:40]!r} (at most {MAX_SIZE:,} bytes)")
    return value


def _bounded(kind: Callable[[str], int], what: str, minimum: int, maximum: int) -> Callable[[str], int]:
    """Returns an argparse type: kind(text), refused (exit 2) outside [minimum, maximum]."""
    def check(text: str) -> int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{what} must be between {minimum:,} and {maximum:,}, not {text}")
        return value
    return check


def build_parser(prog: str, parallel: bool = False) -> argparse.ArgumentParser:
    """Returns the parser of cli-contract.md; -p only for main_mul.py."""
    p = argparse.ArgumentParser(
        prog=prog, description="Find byte-identical files under PATHs, keep a catalog in a database, "
                               "and write an HTML report.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="directory (scanned recursively) or file")
    p.add_argument("--db-url", metavar="URL", help=f"SQLAlchemy URL, overrides the config (env {config.URL_ENV})")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: ./config.json, else the one "
                                                     "beside main.py)")
    p.add_argument("-a", "--algorithm", choices=sorted(ALGORITHMS), default=DEFAULT_ALGORITHM,
                   help=f"content hash (default {DEFAULT_ALGORITHM})")
    p.add_argument("-r", "--report", metavar="PATH", default=DEFAULT_REPORT, help=f"HTML report ({DEFAULT_REPORT})")
    p.add_argument("--skip-html", action="store_true", help="write no HTML report")
    p.add_argument("--report-all-files", action="store_true", help="also list every scanned file in the report")
    p.add_argument("--json", metavar="PATH", help="duplicate groups as JSON ('-' = stdout)")
    p.add_argument("--csv", metavar="PATH", help="one row per duplicate file: group, hash, size, path")
    p.add_argument("--min-size", type=parse_size, default=1, metavar="SIZE", help="smallest file (default 1 byte)")
    p.add_argument("--max-size", type=parse_size, default=None, metavar="SIZE", help="largest file")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip names or root-relative paths matching GLOB (repeatable)")
    p.add_argument("--include-empty", action="store_true", help="report zero-byte files as a group")
    p.add_argument("--hard-links", action="store_true", help="report paths sharing one inode as duplicates")
    p.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links (loops detected)")
    p.add_argument("--one-file-system", action="store_true", help="stay on the file system of each root")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    p.add_argument("-v", "--verbose", action="count", default=0, help="stage lines and skipped files (-vv: debug)")
    if parallel:
        p.add_argument("-p", "--processes", type=_bounded(int, "--processes", 1, MAX_PROCESSES),
                       default=os.cpu_count() or 1,
                       metavar="N", help="worker processes (default: CPU count)")
    p.add_argument("-c", "--chunk-size", type=_bounded(parse_size, "--chunk-size", 4096, MAX_CHUNK),
                   default=DEFAULT_CHUNK,
                   metavar="SIZE", help="read buffer (default 4MiB)")
    p.add_argument("-b", "--batch-size", type=_bounded(int, "--batch-size", 1, MAX_BATCH), default=1000, metavar="N",
                   help="rows per database commit (default 1000)")
    return p


@contextlib.contextmanager
def in_process_runner(args: argparse.Namespace, db_url: str) -> Iterator[workers.Runner]:
    yield workers.in_process


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (commit what is done, then stop) but with exit code 143."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO)[min(args.verbose, 1)]
    if args.verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s" if level > logging.DEBUG else
                        "%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)
    for name in ("sqlalchemy", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _check_roots(paths: list[str]) -> list[str]:
    """Returns the normalized roots; raises ConfigError for a missing root or one that is not a file or dir."""
    for p in paths:
        try:
            mode = os.stat(p).st_mode
        except OSError as e:
            raise config.ConfigError(f"{p}: {e.strerror or e}") from None
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise config.ConfigError(f"{p}: not a directory or regular file")
    return walk.normalize_roots(paths)


def run(args: argparse.Namespace, runner_factory: RunnerFactory = in_process_runner) -> int:
    """Runs one scan for parsed arguments; returns the exit code (cli-contract.md)."""
    _setup_logging(args)
    progress.set_quiet(args.quiet)
    tqdm.tqdm.monitor_interval = 0        # no monitor thread: worker processes are forked
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args, runner_factory)
    except _Terminated:
        _say("terminated: committed batches are kept; rerun to continue")
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        _say("interrupted: committed batches are kept; rerun to continue")
        return EXIT_SIGINT
    except (config.ConfigError, database.DatabaseError) as e:
        return _fail(args, str(e))
    except BrokenProcessPool:
        return _fail(args, "a worker process died (killed, or out of memory); committed batches are kept, "
                           "rerun to continue")
    except OSError as e:   # the report or an export could not be written
        return _fail(args, f"{getattr(e, 'filename', '') or ''}: {e.strerror or e}".lstrip(": "))
    except Exception as e:   # a bug: still one line, the traceback with -v
        return _fail(args, f"internal error: {type(e).__name__}: {e} (rerun with -v for the traceback)")
    finally:
        signal.signal(signal.SIGTERM, old_term)


def _fail(args: argparse.Namespace, message: str) -> int:
    if args.verbose:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    return EXIT_FAILED


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _run(args: argparse.Namespace, runner_factory: RunnerFactory) -> int:
    started = time.time()
    if args.max_size is not None and args.max_size < args.min_size:
        raise config.ConfigError(f"--max-size ({args.max_size}) is below --min-size ({args.min_size})")
    roots = _check_roots(args.paths)
    db = config.resolve_database(args.db_url, args.config)
    try:
        return _scan(args, runner_factory, roots, db, started)
    except SQLAlchemyError as e:   # the database went away after it answered at the start
        raise database.DatabaseError(database.describe_error(e, db.url)) from e


def _scan(args: argparse.Namespace, runner_factory: RunnerFactory, roots: list[str],
          db: config.DatabaseSettings, started: float) -> int:
    engine = database.make_engine(db.url)
    database.initialize_database(engine)
    sessions = sessionmaker(engine)
    workers.use_sessions(sessions)
    engine.dispose()     # connections are opened again after the workers fork
    opts = pipeline.ScanOptions(
        roots=roots, algorithm=args.algorithm, include_empty=args.include_empty, hard_links=args.hard_links,
        batch_size=args.batch_size, chunk_size=args.chunk_size, processes=getattr(args, "processes", 1),
        walk=walk.WalkOptions(min_size=0 if args.include_empty and args.min_size <= 1 else args.min_size,
                              max_size=args.max_size, exclude=args.exclude,
                              follow_symlinks=args.follow_symlinks, one_file_system=args.one_file_system))
    log.info("database: %s (from %s)", db.masked, db.source)
    with runner_factory(args, db.url.render_as_string(hide_password=False)) as runner:
        result = pipeline.run_scan(opts, sessions, runner)
    status = "finished" if result.finished else "interrupted"
    pipeline.record_end(sessions, result, status)
    all_files = _all_files(sessions, roots) if args.report_all_files and not args.skip_html else None
    report = exports.build_report(result, db.masked, time.time() - started, all_files)
    written = _write_outputs(args, report)
    if not args.quiet:
        _print_summary(result, report, db.masked, written)
    if not result.finished:
        term = isinstance(result.stopped_by, _Terminated)
        _say(f"{'terminated' if term else 'interrupted'}: {result.counts.get('full_hashed', 0)} full hashes "
                   "were committed; rerun to continue where this scan stopped")
        return EXIT_SIGTERM if term else EXIT_SIGINT
    return EXIT_OK


def _all_files(sessions: sessionmaker, roots: list[str]) -> list[dict[str, Any]]:
    out = []
    with sessions() as s:
        for root in roots:
            for f in database.iter_known(s, root):
                out.append({"path": display_path(f.path), "size": f.size, "hash": f.full_hash})
    out.sort(key=lambda f: f["path"])
    return out


def _write_outputs(args: argparse.Namespace, report: dict[str, Any]) -> list[str]:
    written = []
    if args.json:
        exports.write_json(args.json, report)
        written.append(f"JSON: {'stdout' if args.json == '-' else os.path.abspath(args.json)}")
    if args.csv:
        exports.write_csv(args.csv, report)
        written.append(f"CSV: {'stdout' if args.csv == '-' else os.path.abspath(args.csv)}")
    if not args.skip_html:
        from . import html_generator
        html_generator.write_report(args.report, report)
        written.append(f"report: {os.path.abspath(args.report)}")
    return written


def human_bytes(n: float) -> str:
    """Returns n bytes in 1024-based units, e.g. '3.1 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def _print_summary(result: pipeline.ScanResult, report: dict[str, Any], db: str, written: list[str]) -> None:
    c, s = result.counts, report["summary"]
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.stage_seconds.items())
    lines = [
        f"files scanned:    {s['files_scanned']:,} ({human_bytes(s['bytes_scanned'])})",
        f"candidates:       {c.get('candidates', 0):,} same-size files; "
        f"{c.get('partial_hashed', 0):,} partial and {c.get('full_hashed', 0):,} full hashes computed, "
        f"{c.get('partial_reused', 0):,} files reused from the catalog",
        f"bytes read:       {human_bytes(c.get('bytes_read', 0))}",
        f"duplicate groups: {s['duplicate_groups']:,} ({s['duplicate_files']:,} files), "
        f"wasted space {human_bytes(s['wasted_bytes'])}",
        f"errors:           {s['errors']:,}" + (" (run with -v to list them; also in the report)" if s["errors"] else "")
        + (f", {c['changed_during_scan']:,} changed during the scan" if c.get("changed_during_scan") else ""),
        f"time:             {report['duration_seconds']:.2f}s ({stages})",
        f"database:         {db}",
    ] + [f"{w.split(':', 1)[0] + ':':<18}{w.split(': ', 1)[1]}" for w in written]
    print("\n".join(lines), file=sys.stderr)


def main(argv: list[str] | None, prog: str, runner_factory: RunnerFactory = in_process_runner,
         parallel: bool = False) -> int:
    """Parses argv and runs the scan; returns the exit code (2 for bad usage, from argparse)."""
    try:
        args = build_parser(prog, parallel).parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return run(args, runner_factory)
