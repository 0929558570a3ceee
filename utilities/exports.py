"""The JSON and CSV exports of a Report (cli-contract.md), to a file or to stdout ('-')."""
from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, replace
from typing import IO, Any

from .atomic import write_atomically
from .paths import display_path
from .report import Group, Report

JSON_VERSION = 2
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")   # what spreadsheets would run as a formula
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_document(report: Report) -> dict[str, Any]:
    """Returns the JSON export as plain data; paths as Python holds them (undecodable bytes as lone
    surrogates, which write_json writes as \\udcXX escapes)."""
    return {
        "version": JSON_VERSION,
        "finished": report.finished,
        "generated_at": report.generated_at,
        "roots": list(report.roots),
        "algorithm": report.algorithm,
        "summary": asdict(report.summary),
        "groups": [_json_group(g) for g in report.groups],
        "unreadable": [{"path": path, "reason": reason} for path, reason in report.unreadable],
    } | _json_catalog(report)


def _json_catalog(report: Report) -> dict[str, Any]:
    """--catalog: the rows elsewhere without a hash yet, per host; --unique: the unique and undecided files."""
    found = report.catalog
    if found is None:
        return {}
    out: dict[str, Any] = {"pending": [{"host": p.host, "rows": p.rows, "bytes": p.bytes} for p in found.pending]}
    if found.unique is not None and found.undecided is not None:
        out["unique"] = [{"path": f.path, "size": f.size} for f in found.unique]
        out["undecided"] = [{"path": f.path, "size": f.size, "hosts": list(f.hosts)} for f in found.undecided]
    return out


def _json_group(g: Group) -> dict[str, Any]:
    """The group as plain data, sharing its lists and dicts (to be encoded at once, not kept)."""
    out: dict[str, Any] = {"hash": g.digest, "size": g.size, "count": g.count, "wasted_bytes": g.wasted,
                           "files": g.paths}
    if g.hard_links:
        out["hard_links"] = g.hard_links
    if g.last_seen:
        out["last_seen"] = dict(sorted(g.last_seen.items()))      # in path order: the same text every run
    return out


def json_chunks(data: Any) -> Iterator[str]:
    """Yields data as indented JSON text, lossless for file names that are not UTF-8: their bytes,
    lone surrogates after os.fsdecode, are written as \\udcXX escapes, so that os.fsencode of what
    json.load reads gives the exact bytes back (cli-contract.md). Other text is written as is."""
    for chunk in json.JSONEncoder(ensure_ascii=False, indent=1).iterencode(data):
        yield _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", chunk)   # only ever inside strings


def _write(path: str, write: Callable[[IO[str]], None], newline: str | None = None) -> None:
    if path == "-":
        write(sys.stdout)
        sys.stdout.flush()
    else:
        write_atomically(path, write, newline=newline)


def write_json(path: str, report: Report, groups: Iterable[Group] | None = None) -> None:
    """Writes the JSON export to path, '-' meaning stdout. groups, when given, are written instead of
    report.groups, one at a time as the iterable yields them (--from-catalog streams them from the catalog:
    memory holds one group, not all). Every group is written on one line (json's C encoder: the indented one
    is pure Python and took most of the time of 485,000 groups)."""
    if groups is None:
        groups = report.groups
    head = json_document(replace(report, groups=[]))
    head["groups"] = _GROUPS_MARK
    before, after = "".join(json_chunks(head)).split(json.dumps(_GROUPS_MARK), 1)

    def write_streamed(f: IO[str]) -> None:
        f.write(before)
        separator = "[\n  "
        for g in groups:
            text = _GROUP_ENCODER.encode(_json_group(g))
            if not text.isascii():
                text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
            f.write(separator + text)
            separator = ",\n  "
        opened = separator != "[\n  "
        f.write("\n ]" if opened else "[]")
        f.write(after)
        f.write("\n")
    _write(path, write_streamed)


_GROUPS_MARK = "\u0000groups\u0000"     # where the streamed groups go in the document's text
_GROUP_ENCODER = json.JSONEncoder(ensure_ascii=False)


def _cell(value: object) -> object:
    """Neutralizes a text cell that a spreadsheet would take for a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_CSV_FORMULA_START):
        return "'" + value
    return value


def write_csv(path: str, report: Report, groups: Iterable[Group] | None = None) -> None:
    """Writes one row per duplicate file: group, hash, size, path, and the file's other names (hard links)
    as a JSON list; RFC 4180 quoting, CRLF lines, names shown as people read them (paths.display_path).
    groups, when given, are written instead of report.groups, one at a time (see write_json): --from-catalog.
    With --catalog or --from-catalog a last column, last_seen: for a copy this run did not see, when its host
    last saw it (epoch seconds); empty for the files of this walk (or, from the catalog, of this host)."""
    seen_column = report.catalog is not None or groups is not None

    def write(f: IO[str]) -> None:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writerow(["group", "hash", "size", "path", "hard_links"] + (["last_seen"] if seen_column else []))
        for i, g in enumerate(report.groups if groups is None else groups, 1):
            for p in g.paths:
                others = g.hard_links.get(p)
                links = json.dumps([display_path(o) for o in others], ensure_ascii=False) if others else ""
                row: list[object] = [i, g.digest, g.size, _cell(display_path(p)), _cell(links)]
                if seen_column:
                    seen = g.last_seen.get(p)
                    row.append("" if seen is None else seen)
                w.writerow(row)
    _write(path, write, newline="")


def place(path: str) -> str:
    """Where an output went, as the summary says it: stdout for '-', else the absolute path."""
    return "stdout" if path == "-" else os.path.abspath(path)


def place_lines(written: list[tuple[str, str]]) -> list[str]:
    """The summary's lines of the outputs written: (what, place) pairs."""
    return [f"{what + ':':<18}{where}" for what, where in written]
