"""The command line both entry points share (cli-contract.md): the parser and its argument types."""
from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Callable, Sequence

from . import __version__
from .dedupe.keep import DEFAULT_KEEP, KEEP_RULES, KeepRuleError, parse_keep
from .dedupe.plan import ACTIONS
from .hashing import ALGORITHMS, DEFAULT_ALGORITHM, DEFAULT_CHUNK
from .hosts import check_host
from .locations import URL_ENV, Locations
from .units import parse_size

MAX_PROCESSES = 256            # worker processes; each holds a read buffer and a database connection
MAX_CHUNK = 2**30              # bytes of read buffer per process
MAX_BATCH = 1_000_000          # rows per commit
MAX_IO_DEPTH = 256             # files read at once
MAX_KEEP_COPIES = 1_000_000


def _size(text: str) -> int:
    """argparse type of a SIZE (units.parse_size): a usage error (exit 2) when it is not one."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def host_name(text: str) -> str:
    """argparse type of --host NAME: a usage error (exit 2) when NAME cannot name a host (hosts.check_host)."""
    try:
        return check_host(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _keep(text: str) -> tuple[str, ...]:
    """argparse type of --keep (dedupe.keep.parse_keep): a usage error when the rule list is not valid."""
    try:
        return parse_keep(text)
    except KeepRuleError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--keep: ")) from None


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


class _Formatter(argparse.HelpFormatter):
    """argparse's, but paths in the help are never broken at a hyphen or in the middle."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
                             break_on_hyphens=False, break_long_words=False)


def _where(where: Locations) -> str:
    if where.installed:
        config = f"--config, else {where.config_files[0]}, else a catalog in {where.default_catalog}"
    else:
        config = "--config, else ./config.json, else the config.json beside main.py"
    return (f"where things are: the database comes from --db-url, else ${URL_ENV}, else {config}; "
            f"reports go to {where.report} unless -r says otherwise.")


def build_parser(prog: str, where: Locations, parallel: bool = False) -> argparse.ArgumentParser:
    """Returns the parser of cli-contract.md; -p only for main_mul.py."""
    p = argparse.ArgumentParser(
        prog=prog, description="Find byte-identical files under PATHs, keep a catalog in a database, "
                               "and write an HTML report.", epilog=_where(where), formatter_class=_Formatter)
    p.add_argument("paths", nargs="*", metavar="PATH", help="directory (scanned recursively) or file")
    p.add_argument("--version", action="version", version=f"%(prog)s (dupFinder) {__version__}")
    p.add_argument("--db-url", metavar="URL", help=f"SQLAlchemy URL, overrides the config (env {URL_ENV})")
    p.add_argument("--config", metavar="FILE", help="configuration file (default: see below)")
    p.add_argument("--host", type=host_name, metavar="NAME",
                   help="the name this machine's files are stored under in the catalog "
                        "(default: \"host\" in the config, else the machine's host name)")
    p.add_argument("-a", "--algorithm", choices=sorted(ALGORITHMS), default=DEFAULT_ALGORITHM,
                   help=f"content hash (default {DEFAULT_ALGORITHM})")
    p.add_argument("-r", "--report", metavar="PATH", default=where.report, help=f"HTML report ({where.report})")
    p.add_argument("--skip-html", action="store_true", help="write no HTML report")
    p.add_argument("--report-all-files", action="store_true", help="also list every scanned file in the report")
    p.add_argument("--json", metavar="PATH", help="duplicate groups as JSON ('-' = stdout)")
    p.add_argument("--csv", metavar="PATH", help="one row per duplicate file: group, hash, size, path")
    p.add_argument("--min-size", type=_size, default=1, metavar="SIZE", help="smallest file (default 1 byte)")
    p.add_argument("--max-size", type=_size, default=None, metavar="SIZE", help="largest file")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="skip files and folders matching GLOB, gitignore-style: without '/' a name at any depth, "
                        "with '/' a path relative to the root; '*' stays within one folder, '**' crosses "
                        "folders; an absolute path under a root (repeatable)")
    p.add_argument("--include-empty", action="store_true",
                   help="report zero-byte files as a group (overrides --min-size for them)")
    p.add_argument("--hard-links", action="store_true", help="report paths sharing one inode as duplicates")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="follow symbolic links to folders and files (loops detected; a file reached by several "
                        "paths is listed once, under its real path when that lies under a root)")
    p.add_argument("--one-file-system", action="store_true", help="stay on the file system of each root")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    p.add_argument("-v", "--verbose", action="count", default=0, help="stage lines and skipped files (-vv: debug)")
    if parallel:
        p.add_argument("-p", "--processes", type=_bounded(int, "--processes", 1, MAX_PROCESSES),
                       default=os.cpu_count() or 1,
                       metavar="N", help="worker processes (default: CPU count)")
    p.add_argument("-c", "--chunk-size", type=_bounded(_size, "--chunk-size", 4096, MAX_CHUNK),
                   default=DEFAULT_CHUNK,
                   metavar="SIZE", help="read buffer (default 4MiB)")
    p.add_argument("--io-depth", type=_bounded(int, "--io-depth", 1, MAX_IO_DEPTH), default=None, metavar="N",
                   help="files read at once (default: 1 on a spinning disk, else 8)")
    p.add_argument("-b", "--batch-size", type=_bounded(int, "--batch-size", 1, MAX_BATCH), default=1000, metavar="N",
                   help="rows per database commit (default 1000)")
    shared = p.add_argument_group("one catalog for several machines")
    shared.add_argument("--catalog", action="store_true",
                        help="look for copies of the files under PATHs in the whole catalog (every host, every "
                             "root ever scanned), not only among this run's files")
    shared.add_argument("--unique", action="store_true",
                        help="list the files under PATHs that have no copy anywhere in the catalog "
                             "(implies --catalog)")
    shared.add_argument("--from-catalog", action="store_true",
                        help="no scan: report the duplicate groups already in the catalog (all hosts, or those of "
                             "--host; PATHs, if given, are path prefixes to keep)")
    act = p.add_argument_group("acting on duplicates (a dry run unless --apply)")
    act.add_argument("--action", choices=ACTIONS,
                     help="what to do with the redundant copies of each group (symlink: a relative link; reflink: "
                          "a copy-on-write clone; move: into --move-to)")
    act.add_argument("--move-to", metavar="DIR", help="quarantine folder of --action move: DIR/<absolute path>")
    act.add_argument("--apply", action="store_true", help="really do it; without it nothing is changed")
    act.add_argument("--keep", type=_keep, default=DEFAULT_KEEP, metavar="RULE[,RULE...]",
                     help=f"which copy stays, rules tried in order: {', '.join(KEEP_RULES)} "
                          f"(default {','.join(DEFAULT_KEEP)})")
    act.add_argument("--protect", action="append", default=[], metavar="GLOB",
                     help="files never removed or replaced, same rules as --exclude (repeatable)")
    act.add_argument("--keep-copies", type=_bounded(int, "--keep-copies", 1, MAX_KEEP_COPIES), default=1,
                     metavar="N", help="keep at least N copies of each group (default 1)")
    act.add_argument("--plan", metavar="PATH", help="write the plan as JSON ('-' = stdout)")
    act.add_argument("--apply-plan", metavar="PATH",
                     help="carry out a plan written by --plan, without scanning (no PATH then)")
    act.add_argument("--undo-move", metavar="ID|all",
                     help="put files moved into the quarantine back: the journal entry ID, or all of this host's")
    return p


def _check_modes(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuses (exit 2) the contradictory uses of the acting options (cli-contract.md)."""
    if args.undo_move is not None and args.undo_move != "all" and not args.undo_move.isdigit():
        p.error(f"--undo-move takes a journal entry's number or 'all', not {args.undo_move!r}")
    if args.apply_plan or args.undo_move:
        mode = "--apply-plan" if args.apply_plan else "--undo-move"
        if args.apply_plan and args.undo_move:
            p.error("--apply-plan and --undo-move cannot be used together")
        if args.paths:
            p.error(f"{mode} takes no PATH: it acts on what the plan or the journal names")
        for option, given in (("--action", args.action), ("--apply", args.apply), ("--plan", args.plan),
                              ("--move-to", args.move_to), ("--catalog", args.catalog), ("--unique", args.unique),
                              ("--from-catalog", args.from_catalog)):
            if given:
                p.error(f"{option} cannot be used with {mode}")
        return
    if args.from_catalog:
        for option, given in (("--catalog", args.catalog), ("--unique", args.unique), ("--action", args.action),
                              ("--apply", args.apply), ("--plan", args.plan)):
            if given:
                p.error(f"{option} cannot be used with --from-catalog (it scans nothing)")
        return
    if not args.paths:
        p.error("the following arguments are required: PATH")
    if args.apply and not args.action:
        p.error("--apply needs --action (what to do with the redundant copies)")
    if args.action == "move" and not args.move_to:
        p.error("--action move needs --move-to DIR")
    if args.move_to and args.action != "move":
        p.error("--move-to is only for --action move")
    for option, given in (("--plan", args.plan), ("--protect", args.protect),
                          ("--keep-copies", args.keep_copies != 1), ("--keep", args.keep != DEFAULT_KEEP)):
        if given and not args.action:
            p.error(f"{option} needs --action")


def parse(argv: Sequence[str] | None, prog: str, where: Locations, parallel: bool) -> argparse.Namespace:
    """Returns the parsed arguments; raises SystemExit(2) with argparse's usage message on bad usage,
    contradictory options included."""
    p = build_parser(prog, where, parallel)
    args = p.parse_args(argv)
    _check_modes(p, args)
    # --include-empty --max-size 0 asks for the empty files only (cli-contract.md): not a contradiction
    only_empty = args.include_empty and args.max_size == 0
    if args.max_size is not None and args.max_size < args.min_size and not only_empty:
        p.error(f"--max-size ({args.max_size:,} bytes) is below --min-size ({args.min_size:,} bytes)")
    if args.unique:
        args.catalog = True                # --unique has --catalog semantics (cli-contract.md)
    args.parallel = parallel
    args.processes = getattr(args, "processes", 1)
    return args
