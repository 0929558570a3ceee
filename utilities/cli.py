"""Command line: parse, then run a command; the only code that sets up logging and picks exit codes."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from . import arguments, locations
from .errors import EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM, ConfigError, DatabaseError, Terminated


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO)[min(args.verbose, 1)]
    if args.verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s" if level > logging.DEBUG else
                        "%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)
    for name in ("sqlalchemy", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    """Runs the command for parsed arguments; returns the exit code (cli-contract.md)."""
    _setup_logging(args)
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from . import scan_command  # SQLAlchemy and the pipeline load only once there is work
        return scan_command.run(args)
    except Terminated:
        _say("terminated: committed batches are kept; rerun to continue")
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        _say("interrupted: committed batches are kept; rerun to continue")
        return EXIT_SIGINT
    except (ConfigError, DatabaseError) as e:
        return _fail(args, str(e))
    except OSError as e:   # the report or an export could not be written
        return _fail(args, f"{getattr(e, 'filename', '') or ''}: {e.strerror or e}".lstrip(": "))
    except Exception as e:
        from concurrent.futures.process import BrokenProcessPool
        if isinstance(e, BrokenProcessPool):
            return _fail(args, "a worker process died (killed, or out of memory); committed batches are kept, "
                               "rerun to continue")
        # a bug: still one line, the traceback with -v
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


def main(argv: Sequence[str] | None, prog: str, parallel: bool = False,
         where: locations.Locations | None = None) -> int:
    """Parses argv and runs the scan; returns the exit code (2 for bad usage, from argparse)."""
    where = where or locations.checkout()
    try:
        args = arguments.parse(argv, prog, where, parallel)
    except SystemExit as e:
        return int(e.code or 0)
    args.where = where
    return run(args)


def installed_main() -> int:
    """The installed `dupfinder` command (one process); config and catalog in the user's folders."""
    return main(None, prog="dupfinder", where=locations.installed())


def installed_main_mul() -> int:
    """The installed `dupfinder-mul` command (worker processes)."""
    return main(None, prog="dupfinder-mul", parallel=True, where=locations.installed())
