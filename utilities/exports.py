"""The JSON and CSV exports of a Report (cli-contract.md), to a file or to stdout ('-')."""
from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import IO, Any

from .atomic import write_atomically
from .paths import display_path
from .report import Report

JSON_VERSION = 1
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")   # what spreadsheets would run as a formula


def json_document(report: Report) -> dict[str, Any]:
    """Returns the JSON export as plain data."""
    return {
        "version": JSON_VERSION,
        "generated_at": report.generated_at,
        "roots": [display_path(r) for r in report.roots],
        "algorithm": report.algorithm,
        "summary": asdict(report.summary),
        "groups": [{"hash": g.digest, "size": g.size, "count": g.count, "wasted_bytes": g.wasted,
                    "files": [display_path(p) for p in g.paths]} for g in report.groups],
        "finished": report.finished,
    }


def _write(path: str, write: Callable[[IO[str]], None], newline: str | None = None) -> None:
    if path == "-":
        write(sys.stdout)
        sys.stdout.flush()
    else:
        write_atomically(path, write, newline=newline)


def write_json(path: str, report: Report) -> None:
    """Writes the JSON export to path, '-' meaning stdout."""
    data = json_document(report)

    def write(f: IO[str]) -> None:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    _write(path, write)


def _cell(value: object) -> object:
    """Neutralizes a text cell that a spreadsheet would take for a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_CSV_FORMULA_START):
        return "'" + value
    return value


def write_csv(path: str, report: Report) -> None:
    """Writes one row per duplicate file: group, hash, size, path (RFC 4180 quoting, CRLF lines)."""
    def write(f: IO[str]) -> None:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writerow(["group", "hash", "size", "path"])
        for i, g in enumerate(report.groups, 1):
            for p in g.paths:
                w.writerow([i, g.digest, g.size, _cell(display_path(p))])
    _write(path, write, newline="")
