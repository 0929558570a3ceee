"""Results out of the scan: the report dict shared by JSON, CSV and HTML, and the JSON/CSV writers."""
from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .paths import display_path
from .pipeline import ScanResult

JSON_VERSION = 1
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")   # what spreadsheets would run as a formula


def build_report(result: ScanResult, database: str, duration: float,
                 all_files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Returns the scan as the plain dict of the JSON export (cli-contract.md), plus the report's extras."""
    c = result.counts
    return {
        "version": JSON_VERSION,
        "generated_at": time.time(),
        "roots": [display_path(r) for r in result.roots],
        "algorithm": result.algorithm,
        "summary": {
            "files_scanned": c.get("files_scanned", 0),
            "bytes_scanned": c.get("bytes_scanned", 0),
            "duplicate_groups": len(result.groups),
            "duplicate_files": sum(len(g.paths) for g in result.groups),
            "wasted_bytes": sum(g.wasted for g in result.groups),
            "errors": len(result.errors),
        },
        "groups": [{"hash": g.digest, "size": g.size, "count": len(g.paths), "wasted_bytes": g.wasted,
                    "files": [display_path(p) for p in g.paths]} for g in result.groups],
        "finished": result.finished,
        # extras for the HTML report (not part of the JSON contract, harmless to readers of it)
        "database": database,
        "duration_seconds": round(duration, 3),
        "error_paths": [{"path": display_path(p), "error": msg} for p, msg in result.errors.items],
        "all_files": all_files,
    }


_JSON_KEYS = ("version", "generated_at", "roots", "algorithm", "summary", "groups", "finished")


def _atomic_write(path: str, write: Callable[[IO[str]], None], newline: str | None = None) -> None:
    """Writes through write(f) to path, or to stdout for '-'; a crash never leaves half a file."""
    if path == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)    # mkstemp makes it 0600; an export is as readable as any new file
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            write(f)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str, report: dict[str, Any]) -> None:
    """Writes the contract's JSON export (plus "finished") to path, '-' meaning stdout."""
    data = {k: report[k] for k in _JSON_KEYS}

    def write(f: IO[str]) -> None:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    _atomic_write(path, write)


def _cell(value: object) -> object:
    """Neutralizes a text cell that a spreadsheet would take for a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_CSV_FORMULA_START):
        return "'" + value
    return value


def write_csv(path: str, report: dict[str, Any]) -> None:
    """Writes one row per duplicate file: group, hash, size, path (RFC 4180 quoting, CRLF lines)."""
    def write(f: IO[str]) -> None:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writerow(["group", "hash", "size", "path"])
        for i, g in enumerate(report["groups"], 1):
            for p in g["files"]:
                w.writerow([i, g["hash"], g["size"], _cell(p)])
    _atomic_write(path, write, newline="")
