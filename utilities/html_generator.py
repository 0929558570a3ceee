"""The HTML report: one static, self-contained page a person opens to decide what to delete.

render_report(report) turns a report.Report into the text of one HTML file; write_report(path,
report) writes it atomically. The page needs no
server and makes no network request: CSS and JavaScript are inline, the data sits in a
<script type="application/json"> element, and a Content-Security-Policy pins both inline blocks
by their sha256 hashes.

Escaping is not left to memory:
- every value put into the server-rendered HTML goes through one template helper (_html), which
  html-escapes anything that is not already markup it built itself (_Markup);
- the data goes in as JSON with <, >, &, U+2028, U+2029 and every other invisible character
  written as \\uXXXX, so no file name can end the <script> element;
- the page's own script inserts data with textContent / createTextNode only.

This module must not import SQLAlchemy: it renders plain data and runs without a database.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .atomic import write_atomically
from .hashing import PARTIAL_BLOCK
from .hosts import split_qualified
from .paths import display_path
from .report import CatalogFindings, Interruption, Report, UniqueFile
from .units import SIZE_UNITS, human_bytes

__all__ = ["ALL_FILES_LIMIT", "render_report", "write_report"]

REPORT_FORMAT = 1              # the page's data layout (data "v" and the footer)
ALL_FILES_LIMIT = 200_000      # more entries than this in all_files and the table is left out
ERRORS_INLINE = 1_000          # error paths rendered into the header; the rest load on demand

# Characters that are invisible or reorder text (C0/C1 controls, zero-width and bidi controls,
# line/paragraph separators, BOM). A name holding one could look like another name, so the page
# shows each as a visible marker instead; the copy buttons still copy the real path.
# The same set is in the page's script (CTL).
_INVISIBLE = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2028\u2029\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")
_CTL_NAMES = {0x09: "TAB", 0x0A: "LF", 0x0D: "CR"}


# ---------------------------------------------------------------------------------------------
# escaping and templating


class _Markup(str):
    """HTML this module built itself; _html inserts it as is. Nothing from a report is ever one."""


def _ctl_marker(m: re.Match[str]) -> str:
    cp = ord(m.group())
    return "\u27e8" + _CTL_NAMES.get(cp, f"U+{cp:04X}") + "\u27e9"


def _escape(value: Any) -> _Markup:
    """The one escape: markup passes, anything else becomes visible, html-escaped text."""
    if isinstance(value, _Markup):
        return value
    text = value if isinstance(value, str) else str(value)
    return _Markup(html.escape(_INVISIBLE.sub(_ctl_marker, text), quote=True))


def _html(template: str, **values: Any) -> _Markup:
    """Fills a string.Template with values, every one of them through _escape."""
    return _Markup(string.Template(template).substitute({k: _escape(v) for k, v in values.items()}))


def _join(parts: Any) -> _Markup:
    return _Markup("".join(_escape(p) for p in parts))


# In the JSON: <, >, & (so nothing can close or open a tag) and every invisible character (so the
# file's source shows no bidi trickery and U+2028/U+2029 never reach a script as line breaks).
_JSON_UNSAFE = re.compile("[<>&" + _INVISIBLE.pattern[1:])


def _script_json(data: Any) -> str:
    """JSON that is safe as the text of a <script> element (and valid JSON for JSON.parse)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


# ---------------------------------------------------------------------------------------------
# durations, dates


def _human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "\u2014"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m}m {sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def _when(ts: float | None) -> tuple[str, str]:
    """(text in the generating machine's time zone, ISO 8601 UTC) for an epoch time."""
    if ts is None:
        return "\u2014", ""
    utc = datetime.fromtimestamp(float(ts), tz=UTC)
    local = utc.astimezone()
    off = local.strftime("%z")
    zone = "UTC" if off in ("+0000", "-0000", "") else f"UTC{off[:3]}:{off[3:]}"
    return f"{local:%Y-%m-%d %H:%M:%S} {zone}", utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# the data the page's script reads


def _page_data(report: Report, all_files_limit: int) -> tuple[dict[str, Any], int | None]:
    """The compact data: a shared directory table and flat arrays.

    groups: [size, hash, count, wasted_bytes, dirIndex, name, dirIndex, name, ...]
    links:  [[groupIndex, fileIndex, dirIndex, name, ...], ...]: other names (hard links) of a listed file
    marks:  [[groupIndex, fileIndex, text], ...]: what --action does (or did) to a listed file
    seen:   [[groupIndex, fileIndex, text], ...]: when another host last saw a listed file of its (last_seen)
    files:  [[dirIndex, name, size, hash or null], ...] or null
    A path is dirs[dirIndex] + name exactly (dirs keep their trailing separator).
    """
    roots = [display_path(r) for r in report.roots]
    dir_index: dict[str, int] = {}
    dirs: list[str] = []

    def add(row: list[Any], path: str) -> None:
        path = display_path(path)
        i = path.rfind("/") + 1
        d = path[:i]
        k = dir_index.get(d)
        if k is None:
            k = dir_index[d] = len(dirs)
            dirs.append(d)
        row.append(k)
        row.append(path[i:])

    groups = []
    links = []          # [group index, file index, dirIndex, name, ...]: the file's other names (hard links)
    marks = []          # [group index, file index, text]: what --action does (or did) to the file
    seen = []           # [group index, file index, text]: a copy this run did not see, and when it was last seen
    marked = report.actions.marks if report.actions else {}
    for gi, g in enumerate(report.groups):
        row: list[Any] = [g.size, g.digest, g.count, g.wasted]
        for fi, p in enumerate(g.paths):
            add(row, p)
            if p in g.hard_links:
                link_row: list[Any] = [gi, fi]
                for other in g.hard_links[p]:
                    add(link_row, other)
                links.append(link_row)
            if p in marked:
                marks.append([gi, fi, marked[p]])
            if p in g.last_seen:
                host, _ = split_qualified(p)
                where = f"by {host} " if host else "outside the roots "
                seen.append([gi, fi, f"last seen {where}{_when(g.last_seen[p])[0]}"])
        groups.append(row)

    files_total = None if report.all_files is None else len(report.all_files)
    files = None
    if report.all_files is not None and len(report.all_files) <= all_files_limit:
        files = []
        for f in report.all_files:
            frow: list[Any] = []
            add(frow, f.path)
            frow += [f.size, f.digest]
            files.append(frow)

    rest = [[display_path(path), reason] for path, reason in report.unreadable[ERRORS_INLINE:]]
    data = {
        "v": REPORT_FORMAT,
        "roots": roots,
        "dirs": dirs,
        "groups": groups,
        "links": links,
        "marks": marks,
        "seen": seen,
        "units": SIZE_UNITS,      # the size units of the filters: the command line's (units.py)
        "files": files,
        "filesTotal": files_total,
        "filesLimit": all_files_limit,
        "errorsRest": rest,
    }
    return data, files_total


# ---------------------------------------------------------------------------------------------
# the page


def render_report(report: Report, *, all_files_limit: int = ALL_FILES_LIMIT) -> str:
    """Returns the whole HTML document for report (see the module docstring)."""
    return _render(report, all_files_limit)


def write_report(path: str | os.PathLike[str], report: Report, *, all_files_limit: int = ALL_FILES_LIMIT) -> None:
    """Writes the report to path (UTF-8), atomically: a failure leaves any old report untouched."""
    text = render_report(report, all_files_limit=all_files_limit)

    def write(f: IO[str]) -> None:
        f.write(text)
    write_atomically(path, write)


def _render(report: Report, all_files_limit: int) -> str:
    data, files_total = _page_data(report, all_files_limit)
    summary = report.summary
    groups = data["groups"]
    n_groups, n_dup_files, wasted = summary.duplicate_groups, summary.duplicate_files, summary.wasted_bytes
    files_scanned, bytes_scanned = summary.files_scanned, summary.bytes_scanned
    errors = report.unreadable
    n_errors = summary.errors
    finished = report.finished
    when, when_iso = _when(report.generated_at)
    roots = [display_path(r) for r in report.roots]

    banner = _Markup("")
    if not finished:
        banner = _html(
            '<div class="banner" role="alert"><div class="wrap">'
            '<span class="banner-icon" aria-hidden="true">\u26a0</span><strong>Incomplete scan.</strong> '
            "$checked The groups cover only what was compared; files not reached may have more copies, "
            "and some groups may be missing.</div></div>", checked=_what_was_checked(report.interruption))

    stats = _join(_stat(*s) for s in (
        ("Wasted space", human_bytes(wasted), f"{wasted:,} bytes", "stat-wasted", "wasted"),
        ("Duplicate groups", f"{n_groups:,}", "sets of identical files", "", "groups"),
        ("Duplicate files", f"{n_dup_files:,}", "files in those groups", "", "dupfiles"),
        ("Files scanned", f"{files_scanned:,}", "" if finished else "walked, not all compared", "", "files"),
        ("Data scanned", human_bytes(bytes_scanned), f"{bytes_scanned:,} bytes", "", "bytes"),
        ("Errors", f"{n_errors:,}", "unreadable paths" if n_errors else "none",
         "stat-errors" if n_errors else "", "errors"),
        ("Time taken", _human_duration(report.duration_seconds), "", "", "duration"),
    ))
    if report.actions:
        a = report.actions
        stats = _join([stats, _stat(a.label.capitalize(), human_bytes(a.bytes), f"{a.title}; {a.detail}",
                                    "stat-action", "action")])

    error_details = _Markup("")
    if errors:
        items = _join(_html('<li><span class="epath">$path</span><span class="emsg">$msg</span></li>',
                            path=display_path(path), msg=reason)
                      for path, reason in errors[:ERRORS_INLINE])
        listed = len(errors)
        more = _Markup("")
        if listed > ERRORS_INLINE:
            more = _html('<button type="button" class="btn" id="errors-more">Show the other $n</button>',
                         n=f"{listed - ERRORS_INLINE:,}")
        note = ""
        if listed != n_errors:
            note = f" ({listed:,} listed)"
        error_details = _html(
            '<details class="errors" id="errors"><summary>$title</summary>'
            '<ul class="error-list" id="error-list">$items</ul>$more</details>',
            title=f"{n_errors:,} path{'s' if n_errors != 1 else ''} could not be read{note}",
            items=items, more=more)

    if report.catalog is not None:
        error_details = _join([error_details, _catalog_sections(report.catalog)])

    root_items = _join(_html('<li><code class="root">$r</code></li>', r=r) for r in roots) \
        or _html('<li class="muted">none recorded</li>')

    files_tab = _Markup("")
    files_section = _Markup("")
    if files_total is not None:
        files_tab = _html('<button type="button" role="tab" class="tab" id="tab-files" '
                          'aria-controls="panel-files" aria-selected="false">All files '
                          '<span class="count">$n</span></button>', n=f"{files_total:,}")
        if data["files"] is None:
            body = _html(
                '<p class="note" id="files-omitted"><strong>All-files table left out.</strong> '
                "The scan listed $total files, more than the $limit this report embeds, so the "
                "table of all files is not in this page. The duplicate groups are complete; "
                "for the full list use the JSON or CSV export.</p>",
                total=f"{files_total:,}", limit=f"{all_files_limit:,}")
        else:
            body = _html(_FILES_PANEL)
        files_section = _html('<section class="panel" id="panel-files" role="tabpanel" '
                              'aria-labelledby="tab-files" hidden>$body</section>', body=body)

    capped = _Markup("")
    if report.groups_cap is not None and n_groups > len(groups):
        capped = _html('<p class="note" id="groups-capped"><strong>$shown</strong> The totals above are for all '
                       "$total groups; the JSON and CSV exports list them all.</p>",
                       shown=f"Showing the {len(groups):,} groups with the most wasted space of {n_groups:,}.",
                       total=f"{n_groups:,}")

    script = _SCRIPT
    csp = ("default-src 'none'; script-src " + _csp_hash(script) + "; style-src " + _csp_hash(_CSS)
           + "; img-src data:; base-uri 'none'; form-action 'none'")
    title = (f"Duplicates: {human_bytes(wasted)} wasted in {n_groups:,} groups"
             + ("" if finished else " (interrupted scan)"))
    doc = _html(
        _PAGE,
        csp=csp, title=title, css=_Markup(_CSS), banner=banner,
        roots=root_items, when=when, when_iso=when_iso,
        algorithm=report.algorithm or "\u2014",
        database=report.database or "\u2014",
        stats=stats, errors=error_details,
        status="complete" if finished else "interrupted",
        groups_count=f"{len(groups):,}", capped=capped,
        files_tab=files_tab, files_section=files_section,
        pager_top=_html(_PAGER, where="top"), pager_bottom=_html(_PAGER, where="bottom"),
        version=REPORT_FORMAT,
        data=_Markup(_script_json(data)), script=_Markup(script),
    )
    return str(doc)


UNIQUE_INLINE = 2000      # files listed per --unique section; the JSON export lists them all


def _catalog_sections(found: CatalogFindings) -> _Markup:
    """--catalog: the rows elsewhere without a hash yet; --unique: the unique and the not yet decidable files."""
    parts = []
    if found.pending:
        items = _join(_html("<li><strong>$host</strong>: $rows row$s ($size)</li>", host=p.host, rows=f"{p.rows:,}",
                            s="" if p.rows == 1 else "s", size=human_bytes(p.bytes)) for p in found.pending)
        parts.append(_html('<details class="errors" id="pending"><summary>$title</summary><p class="muted">'
                           "Rows of these hosts could be copies but have no hash yet: only their host can hash "
                           'them. Scan those hosts with --catalog.</p><ul class="error-list">$items</ul></details>',
                           title="Copies not yet decidable on other hosts", items=items))

    def listing(files: list[UniqueFile], key: str, title: str, note: str) -> _Markup:
        shown = files[:UNIQUE_INLINE]
        items = _join(_html('<li><span class="epath">$path</span><span class="emsg">$detail</span></li>',
                            path=display_path(f.path),
                            detail=human_bytes(f.size) + (f"; scan {', '.join(f.hosts)} with --catalog"
                                                          if f.hosts else "")) for f in shown)
        more = "" if len(files) == len(shown) else f" ({len(shown):,} listed here; the JSON export lists all)"
        return _html('<details class="errors" id="$key"><summary>$title</summary><p class="muted">$note</p>'
                     '<ul class="error-list">$items</ul></details>', key=key, items=items, note=note,
                     title=f"{title}: {len(files):,}{more}")

    if found.unique is not None and found.undecided is not None:
        parts.append(listing(found.unique, "unique", "Unique files",
                             "No copy of these files is anywhere in the catalog."))
        parts.append(listing(found.undecided, "undecided", "Not yet decidable",
                             "Rows of these files' sizes on other hosts have no hash yet: scan the hosts named "
                             "with --catalog, then scan here again."))
    return _join(parts)


def _what_was_checked(stop: Interruption | None) -> str:
    """One or two sentences on how far an interrupted scan got."""
    if stop is None:
        return "This scan was interrupted."
    said = f"This scan was interrupted during its {stop.stage} stage."
    if stop.candidates is None:
        return said + " The walk did not finish, and no file was compared."
    cands = f"{stop.candidates:,} file{'s' if stop.candidates != 1 else ''} sharing a size with another"
    if stop.partial_done == 0:
        return f"{said} Of the {cands}, none was compared yet."
    said += f" Of the {cands}, {stop.partial_done:,} were compared by their first and last {PARTIAL_BLOCK // 1024} KiB"
    if stop.full_needed is None:
        return said + ", none yet by their whole content."
    return said + f", and {stop.full_done:,} of the {stop.full_needed:,} that needed it by their whole content."


def _stat(label: str, value: str, detail: str, cls: str, key: str) -> _Markup:
    return _html('<div class="stat $cls" data-stat="$key"><div class="stat-label">$label</div>'
                 '<div class="stat-value" title="$tip">$value</div><div class="stat-detail">$detail</div></div>',
                 cls=cls, key=key, label=label, value=value, detail=detail,
                 tip=f"{value} ({detail})" if detail else value)


_PAGER = """<nav class="pager" data-where="$where" aria-label="Pages of groups">
<button type="button" class="btn btn-icon" data-act="first" title="First page" aria-label="First page">\u00ab</button>
<button type="button" class="btn" data-act="prev">\u2039 Prev</button>
<span class="page-of">Page <input type="number" class="page-input" min="1" value="1" aria-label="Page number"> of <span class="page-count">1</span></span>
<button type="button" class="btn" data-act="next">Next \u203a</button>
<button type="button" class="btn btn-icon" data-act="last" title="Last page" aria-label="Last page">\u00bb</button>
</nav>"""

_FILES_PANEL = """<div class="controls" id="files-controls">
<label class="field grow"><span>Path contains</span><input type="search" id="ff-text" placeholder="e.g. backup/2019" autocomplete="off" spellcheck="false"></label>
<label class="field"><span>Size</span><select id="ff-cat"><option value="">Any size</option></select></label>
<label class="field check"><input type="checkbox" id="ff-dups"><span>Duplicates only</span></label>
</div>
<div class="cat-chips" id="ff-chips" aria-label="Files by size"></div>
<div class="listbar"><p class="summary" id="files-summary" aria-live="polite"></p>
<nav class="pager" id="files-pager" aria-label="Pages of files">
<button type="button" class="btn" data-act="prev">\u2039 Prev</button>
<span class="page-of">Page <input type="number" class="page-input" min="1" value="1" aria-label="Page number"> of <span class="page-count">1</span></span>
<button type="button" class="btn" data-act="next">Next \u203a</button>
</nav></div>
<div class="table-wrap"><table class="files-table" id="files-table">
<thead><tr><th class="c-copy"><span class="sr">Copy</span></th>
<th data-key="path" aria-sort="ascending"><button type="button">Path</button></th>
<th data-key="size" class="num"><button type="button">Size</button></th>
<th data-key="cat"><button type="button">Category</button></th>
<th data-key="copies" class="num"><button type="button">Copies</button></th>
<th class="c-hash">Hash</th></tr></thead>
<tbody id="files-body"></tbody></table></div>"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$csp">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="dupFinder">
<title>$title</title>
<style>$css</style>
</head>
<body data-status="$status">
$banner
<header class="top">
<div class="wrap">
<div class="eyebrow">dupFinder report</div>
<h1>Duplicate files</h1>
<dl class="meta">
<div class="meta-roots"><dt>Scanned</dt><dd><ul class="roots">$roots</ul></dd></div>
<div><dt>Generated</dt><dd><time datetime="$when_iso">$when</time></dd></div>
<div><dt>Algorithm</dt><dd><code>$algorithm</code></dd></div>
<div><dt>Database</dt><dd><code class="db">$database</code></dd></div>
</dl>
<div class="stats" id="stats">$stats</div>
$errors
</div>
</header>
<main class="wrap" id="main">
<noscript><p class="note">The lists below need JavaScript. The figures above are complete without it.</p></noscript>
<div class="tabs" role="tablist" aria-label="Views">
<button type="button" role="tab" class="tab" id="tab-groups" aria-controls="panel-groups" aria-selected="true">Duplicate groups <span class="count">$groups_count</span></button>
$files_tab
</div>
<section class="panel" id="panel-groups" role="tabpanel" aria-labelledby="tab-groups">
$capped
<div class="card chart-card" id="chart-card">
<div class="card-head"><h2 id="chart-title">Where the wasted space is</h2>
<div class="chart-opts"><div class="seg" role="group" aria-label="Group the chart by">
<button type="button" class="seg-btn" data-mode="dir" aria-pressed="true">Directories</button>
<button type="button" class="seg-btn" data-mode="ext" aria-pressed="false">Extensions</button>
</div>
<select id="chart-depth" class="depth" aria-label="Directory level" title="Add up by the file's own folder, or by the folders 1, 2 or 3 levels below the scanned root">
<option value="0">Parent folder</option>
<option value="1">Top-level folder</option>
<option value="2">2 levels deep</option>
<option value="3">3 levels deep</option>
</select></div></div>
<p class="chart-note" id="chart-note"></p>
<div class="chart-box" id="chart-box"><svg id="chart" class="chart" role="img" aria-labelledby="chart-title" width="600" height="40"></svg></div>
</div>
<div class="controls sticky" id="controls">
<label class="field grow"><span>Path contains</span><input type="search" id="f-text" placeholder="Filter paths, e.g. Photos/2019" title="Press / to jump here" autocomplete="off" spellcheck="false"></label>
<label class="field sm"><span>Min size</span><input type="text" id="f-min" placeholder="e.g. 10M" autocomplete="off" spellcheck="false"></label>
<label class="field sm"><span>Max size</span><input type="text" id="f-max" placeholder="e.g. 2G" autocomplete="off" spellcheck="false"></label>
<label class="field sm"><span>Extension</span><input type="text" id="f-ext" placeholder="jpg, mp4" autocomplete="off" spellcheck="false" list="ext-list"></label>
<label class="field xs"><span>Min copies</span><input type="number" id="f-copies" min="2" step="1" placeholder="2"></label>
<label class="field md"><span>Sort by</span><select id="f-sort">
<option value="wasted">Wasted space</option>
<option value="size">File size</option>
<option value="copies">Copies</option>
<option value="path">Path (A\u2013Z)</option>
</select></label>
<button type="button" class="btn btn-ghost" id="f-reset">Reset</button>
<datalist id="ext-list"></datalist>
</div>
<div class="listbar"><p class="summary" id="summary" aria-live="polite">Showing $groups_count groups</p>
$pager_top</div>
<div class="groups" id="groups"></div>
<div class="listbar bottom"><span class="range" id="range"></span>$pager_bottom</div>
</section>
$files_section
</main>
<footer class="wrap foot">dupFinder report format v$version \u00b7 a single self-contained file: it works offline and loads nothing from the network.</footer>
<div class="toast" id="toast" role="status" aria-live="polite"></div>
<script type="application/json" id="data">$data</script>
<script>$script</script>
</body>
</html>
"""

# ---------------------------------------------------------------------------------------------
# style

# The page's style and script live beside this module as plain files (read once, inlined into
# every report and pinned by hash in its Content-Security-Policy).
_ASSETS = Path(__file__).resolve().parent / "report_assets"
_CSS = (_ASSETS / "report.css").read_text(encoding="utf-8")
_SCRIPT = (_ASSETS / "report.js").read_text(encoding="utf-8")
