"""The HTML report: one static, self-contained page a person opens to decide what to delete.

render_report(report) turns the plain report dict (see utilities/exports.build_report) into the
text of one HTML file; write_report(path, report) writes it atomically. The page needs no
server and makes no network request: CSS and JavaScript are inline, the data sits in a
<script type="application/json"> element, and a Content-Security-Policy pins both inline blocks
by their sha256 hashes.

Escaping is not left to memory:
- every value put into the server-rendered HTML goes through one template helper (_html), which
  html-escapes anything that is not already markup it built itself (_Markup);
- the data goes in as JSON with <, >, &, U+2028, U+2029 and every other invisible character
  written as \\uXXXX, so no file name can end the <script> element;
- the page's own script inserts data with textContent / createTextNode only.

Standard library only: this module must not import SQLAlchemy or anything else outside it.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import re
import string
import tempfile
from datetime import datetime, timezone
from typing import Any

__all__ = ["render_report", "write_report", "human_bytes", "ALL_FILES_LIMIT"]

ALL_FILES_LIMIT = 200_000      # more entries than this in all_files and the table is left out
ERRORS_INLINE = 1_000          # error paths rendered into the header; the rest load on demand
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")

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
# numbers, sizes, dates


def human_bytes(n: int | float) -> str:
    """1024-based with one decimal: 1,023 B, 1.0 KiB, 3.1 GiB. The page's script rounds the same way."""
    n = int(n)
    if n < 1024:
        return f"{n:,} B"
    v, i = float(n), 0
    while v >= 1024 and i < len(_UNITS) - 1:
        v /= 1024
        i += 1
    r = math.floor(v * 10 + 0.5) / 10          # half up, as the script does (toFixed differs on ties)
    if r >= 1024 and i < len(_UNITS) - 1:
        r = math.floor(r / 1024 * 10 + 0.5) / 10
        i += 1
    return f"{r:.1f} {_UNITS[i]}"


def _human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "\u2014"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m {sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def _when(ts: float | None) -> tuple[str, str]:
    """(text in the generating machine's time zone, ISO 8601 UTC) for an epoch time."""
    if ts is None:
        return "\u2014", ""
    utc = datetime.fromtimestamp(float(ts), tz=timezone.utc)
    local = utc.astimezone()
    off = local.strftime("%z")
    zone = "UTC" if off in ("+0000", "-0000", "") else f"UTC{off[:3]}:{off[3:]}"
    return f"{local:%Y-%m-%d %H:%M:%S} {zone}", utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# the data the page's script reads


def _splitter(roots: list[str]) -> tuple[Any, str]:
    """Returns (path -> index just past its last separator, the separator): '/', or for Windows
    roots '\\' (and '/' too when splitting)."""
    windows = any(re.match(r"^(?:[A-Za-z]:[\\/]|\\\\)", r) for r in roots)
    if windows:
        return (lambda p: max(p.rfind("/"), p.rfind("\\")) + 1), "\\"
    return (lambda p: p.rfind("/") + 1), "/"


def _page_data(report: dict[str, Any], all_files_limit: int) -> tuple[dict[str, Any], int | None]:
    """The compact data: a shared directory table and flat arrays.

    groups: [size, hash, count, wasted_bytes, dirIndex, name, dirIndex, name, ...]
    files:  [[dirIndex, name, size, hash or null], ...] or null
    A path is dirs[dirIndex] + name exactly (dirs keep their trailing separator).
    """
    roots = [str(r) for r in report.get("roots") or ()]
    split, sep = _splitter(roots)
    dir_index: dict[str, int] = {}
    dirs: list[str] = []

    def add(row: list[Any], path: str) -> None:
        i = split(path)
        d = path[:i]
        k = dir_index.get(d)
        if k is None:
            k = dir_index[d] = len(dirs)
            dirs.append(d)
        row.append(k)
        row.append(path[i:])

    groups = []
    for g in report.get("groups") or ():
        files = [str(p) for p in g.get("files") or ()]
        size = int(g.get("size") or 0)
        count = int(g.get("count", len(files)))
        wasted = int(g.get("wasted_bytes", size * max(count - 1, 0)))
        row: list[Any] = [size, str(g.get("hash") or ""), count, wasted]
        for p in files:
            add(row, p)
        groups.append(row)

    all_files = report.get("all_files")
    files_total = None if all_files is None else len(all_files)
    files = None
    if all_files is not None and files_total <= all_files_limit:
        files = []
        for f in all_files:
            row = []
            add(row, str(f.get("path", "")))
            h = f.get("hash")
            row.append(int(f.get("size") or 0))
            row.append(None if h is None else str(h))
            files.append(row)

    errors = report.get("error_paths") or ()
    rest = [[str(e.get("path", "")), str(e.get("error", ""))] for e in errors[ERRORS_INLINE:]]
    data = {
        "v": 1,
        "roots": roots,
        "sep": sep,
        "dirs": dirs,
        "groups": groups,
        "files": files,
        "filesTotal": files_total,
        "filesLimit": all_files_limit,
        "errorsRest": rest,
    }
    return data, files_total


def _sanitized(value: Any) -> Any:
    """A copy of a report with lone surrogates (undecodable bytes) shown as \\xNN text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {k: _sanitized(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitized(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# the page


def render_report(report: dict[str, Any], *, all_files_limit: int = ALL_FILES_LIMIT) -> str:
    """Returns the whole HTML document for report (see the module docstring)."""
    doc = _render(report, all_files_limit)
    try:
        doc.encode("utf-8")
    except UnicodeEncodeError:       # the contract says paths are valid UTF-8; never write a bad file
        doc = _render(_sanitized(report), all_files_limit)
    return doc


def write_report(path: str | os.PathLike[str], report: dict[str, Any], *,
                 all_files_limit: int = ALL_FILES_LIMIT) -> None:
    """Writes the report to path (UTF-8), creating parent directories; atomic: a temporary file
    in the same directory, fsynced, then os.replace. A failure leaves any old report untouched."""
    target = os.path.abspath(os.fspath(path))
    data = render_report(report, all_files_limit=all_files_limit).encode("utf-8")
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    try:
        mode = os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):       # make the rename itself durable where the OS allows
        try:
            dfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass


def _render(report: dict[str, Any], all_files_limit: int) -> str:
    data, files_total = _page_data(report, all_files_limit)
    summary = report.get("summary") or {}
    groups = data["groups"]
    n_groups = int(summary.get("duplicate_groups", len(groups)))
    n_dup_files = int(summary.get("duplicate_files", sum((len(g) - 4) // 2 for g in groups)))
    wasted = int(summary.get("wasted_bytes", sum(g[3] for g in groups)))
    files_scanned = int(summary.get("files_scanned", 0))
    bytes_scanned = int(summary.get("bytes_scanned", 0))
    errors = report.get("error_paths") or []
    n_errors = int(summary.get("errors", len(errors)))
    finished = report.get("finished", True) is not False
    when, when_iso = _when(report.get("generated_at"))
    roots = [str(r) for r in report.get("roots") or ()]

    banner = _Markup("")
    if not finished:
        banner = _html(
            '<div class="banner" role="alert"><div class="wrap">'
            '<span class="banner-icon" aria-hidden="true">\u26a0</span><strong>Incomplete scan.</strong> '
            "This scan was interrupted; the groups cover only what was hashed. Files not reached "
            "may have more copies, and some groups may be missing.</div></div>")

    stats = _join(_stat(*s) for s in (
        ("Wasted space", human_bytes(wasted), f"{wasted:,} bytes", "stat-wasted", "wasted"),
        ("Duplicate groups", f"{n_groups:,}", "sets of identical files", "", "groups"),
        ("Duplicate files", f"{n_dup_files:,}", "files in those groups", "", "dupfiles"),
        ("Files scanned", f"{files_scanned:,}", "", "", "files"),
        ("Data scanned", human_bytes(bytes_scanned), f"{bytes_scanned:,} bytes", "", "bytes"),
        ("Errors", f"{n_errors:,}", "unreadable paths" if n_errors else "none",
         "stat-errors" if n_errors else "", "errors"),
        ("Time taken", _human_duration(report.get("duration_seconds")), "", "", "duration"),
    ))

    error_details = _Markup("")
    if errors:
        items = _join(_html('<li><span class="epath">$path</span><span class="emsg">$msg</span></li>',
                            path=e.get("path", ""), msg=e.get("error", ""))
                      for e in errors[:ERRORS_INLINE])
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

    script = _SCRIPT
    csp = ("default-src 'none'; script-src " + _csp_hash(script) + "; style-src " + _csp_hash(_CSS)
           + "; img-src data:; base-uri 'none'; form-action 'none'")
    title = (f"Duplicates: {human_bytes(wasted)} wasted in {n_groups:,} groups"
             + ("" if finished else " (interrupted scan)"))
    doc = _html(
        _PAGE,
        csp=csp, title=title, css=_Markup(_CSS), banner=banner,
        roots=root_items, when=when, when_iso=when_iso,
        algorithm=report.get("algorithm") or "\u2014",
        database=report.get("database") or "\u2014",
        stats=stats, errors=error_details,
        status="complete" if finished else "interrupted",
        groups_count=f"{len(groups):,}",
        files_tab=files_tab, files_section=files_section,
        pager_top=_html(_PAGER, where="top"), pager_bottom=_html(_PAGER, where="bottom"),
        version=report.get("version", 1),
        data=_Markup(_script_json(data)), script=_Markup(script),
    )
    return str(doc)


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

_CSS = r"""
:root{
--bg:#f4f6f9;--card:#fff;--text:#1b2230;--muted:#5b6676;--faint:#8791a0;--border:#e1e5ec;--border-strong:#cbd2dc;
--accent:#2457d6;--accent-soft:#e9effd;--accent-text:#1d4ab8;--wasted:#b93815;--wasted-soft:#fdf0ea;
--warn-bg:#fff6e0;--warn-border:#f0b43c;--warn-text:#6b4300;--mark:#ffe58a;--ok:#17803d;
--bar:#3d74e8;--bar-bg:#eef1f6;--shadow:0 1px 2px rgba(16,24,40,.04),0 1px 3px rgba(16,24,40,.07);
--mono:ui-monospace,"SFMono-Regular","SF Mono",Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace;
--sans:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans","Liberation Sans",Arial,sans-serif;
--radius:10px;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{
--bg:#0f1318;--card:#171c23;--text:#e4e8ee;--muted:#9aa5b4;--faint:#6f7b8b;--border:#29313c;--border-strong:#3a4450;
--accent:#6e9bff;--accent-soft:#1c2a45;--accent-text:#9dbcff;--wasted:#ff8a65;--wasted-soft:#2d1d17;
--warn-bg:#2e2310;--warn-border:#9a6a12;--warn-text:#f6d48b;--mark:#6b5510;--ok:#4cc27a;
--bar:#5a8cff;--bar-bg:#222a35;--shadow:none}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 var(--sans);-webkit-font-smoothing:antialiased}
code,.mono{font-family:var(--mono);font-size:.9em}
h1,h2{margin:0;font-weight:650;letter-spacing:-.01em}
button,input,select{font:inherit;color:inherit}
.wrap{max-width:1200px;margin:0 auto;padding:0 24px}
.muted{color:var(--muted)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.banner{background:var(--warn-bg);border-bottom:1px solid var(--warn-border);color:var(--warn-text);padding:12px 0;font-size:15px}
.banner strong{margin-right:.35em}
.banner-icon{margin-right:.45em;font-size:1.1em}
.top{background:var(--card);border-bottom:1px solid var(--border);padding:26px 0 22px}
.eyebrow{font-size:12px;font-weight:600;letter-spacing:.08em;text-transform:uppercase;color:var(--accent-text)}
.top h1{font-size:28px;margin:2px 0 14px}
.meta{display:flex;flex-wrap:wrap;gap:6px 28px;margin:0 0 20px;font-size:14px}
.meta>div{display:flex;gap:8px;align-items:baseline;min-width:0}
.meta dt{color:var(--muted)}
.meta dd{margin:0;min-width:0;overflow-wrap:anywhere}
.meta-roots{flex-basis:100%}
.roots{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:6px}
.root{background:var(--accent-soft);color:var(--accent-text);border-radius:6px;padding:1px 8px;overflow-wrap:anywhere}
.db{overflow-wrap:anywhere}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px}
@media (min-width:1180px){.stats{grid-template-columns:minmax(0,1.3fr) repeat(6,minmax(0,1fr))}}
.stat{border:1px solid var(--border);border-radius:var(--radius);padding:12px 13px;background:var(--card);min-width:0}
.stat-label{font-size:12.5px;color:var(--muted);font-weight:500}
.stat-value{font-size:21px;font-weight:650;font-variant-numeric:tabular-nums;letter-spacing:-.01em;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.stat-detail{font-size:12px;color:var(--faint);min-height:1.2em;font-variant-numeric:tabular-nums}
.stat-wasted{background:var(--wasted-soft);border-color:transparent}
.stat-wasted .stat-value{color:var(--wasted);font-size:25px}
.stat-errors .stat-value{color:var(--wasted)}
.errors{margin-top:14px;border:1px solid var(--border);border-radius:var(--radius);padding:0 14px;font-size:14px}
.errors summary{cursor:pointer;padding:10px 0;font-weight:550}
.error-list{list-style:none;margin:0 0 10px;padding:0;max-height:360px;overflow:auto}
.error-list li{padding:5px 0;border-top:1px solid var(--border);display:flex;flex-wrap:wrap;gap:2px 12px}
.epath{font-family:var(--mono);font-size:13px;overflow-wrap:anywhere}
.emsg{color:var(--muted);font-size:13px}
.errors .btn{margin:0 0 12px}
main.wrap{padding-top:20px;padding-bottom:24px}
.note{background:var(--card);border:1px solid var(--border);border-left:4px solid var(--warn-border);border-radius:8px;padding:12px 16px}
.tabs{display:flex;gap:4px;border-bottom:1px solid var(--border);margin-bottom:16px}
.tabs:has(.tab:only-child){display:none}
.tab{background:none;border:0;border-bottom:2px solid transparent;padding:8px 12px;margin-bottom:-1px;cursor:pointer;color:var(--muted);font-weight:550}
.tab[aria-selected=true]{color:var(--text);border-bottom-color:var(--accent)}
.tab .count{font-size:12px;background:var(--bar-bg);border-radius:10px;padding:1px 7px;margin-left:4px;color:var(--muted);font-variant-numeric:tabular-nums}
.card{background:var(--card);border:1px solid var(--border);border-radius:var(--radius);box-shadow:var(--shadow)}
.chart-card{padding:14px 18px 10px;margin-bottom:16px}
.card-head{display:flex;align-items:center;justify-content:space-between;gap:12px;flex-wrap:wrap}
.card-head h2{font-size:16px}
.chart-note{margin:2px 0 6px;font-size:13px;color:var(--muted)}
.chart-box{width:100%;overflow:hidden}
.chart{display:block;font-family:var(--sans);font-size:12.5px}
.chart .bar{fill:var(--bar)}
.chart .bar-bg{fill:var(--bar-bg)}
.chart .lbl{fill:var(--text);font-family:var(--mono);font-size:12px}
.chart .val{fill:var(--muted);font-variant-numeric:tabular-nums}
.chart .empty{fill:var(--muted)}
.chart .row{cursor:pointer}
.chart .row:hover .bar,.chart .row:focus .bar{fill:var(--accent-text)}
.chart .row:focus{outline:none}
.chart .row:focus .bar-bg{stroke:var(--accent);stroke-width:1.5}
.chart-opts{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.depth{border:1px solid var(--border-strong);border-radius:8px;padding:4px 8px;font-size:13px;background:var(--card);height:30px}
.depth:disabled{opacity:.4}
.seg{display:inline-flex;border:1px solid var(--border-strong);border-radius:8px;overflow:hidden}
.seg-btn{background:var(--card);border:0;padding:4px 12px;font-size:13px;cursor:pointer;color:var(--muted)}
.seg-btn+.seg-btn{border-left:1px solid var(--border-strong)}
.seg-btn[aria-pressed=true]{background:var(--accent-soft);color:var(--accent-text);font-weight:600}
.controls{display:flex;flex-wrap:wrap;gap:10px 12px;align-items:flex-end;background:var(--card);border:1px solid var(--border);border-radius:var(--radius);padding:12px 14px;box-shadow:var(--shadow)}
.controls.sticky{position:sticky;top:0;z-index:5}
.field{display:flex;flex-direction:column;gap:3px;font-size:12px;color:var(--muted);font-weight:500;min-width:0}
.field.grow{flex:1 1 260px}
.field.sm{flex:0 1 120px}
.field.md{flex:0 1 160px}
.field.xs{flex:0 1 92px}
.field.check{flex-direction:row;align-items:center;gap:6px;font-size:14px;color:var(--text);padding-bottom:7px}
.field input[type=search],.field input[type=text],.field input[type=number],.field select{width:100%;height:34px;border:1px solid var(--border-strong);border-radius:7px;padding:6px 9px;background:var(--card);font-size:14px;color:var(--text);min-width:0}
.field input:focus,.field select:focus,.btn:focus-visible,.copy:focus-visible,.tab:focus-visible,.seg-btn:focus-visible{outline:2px solid var(--accent);outline-offset:1px}
.field input.invalid{border-color:var(--wasted);background:var(--wasted-soft)}
.btn{border:1px solid var(--border-strong);background:var(--card);border-radius:7px;padding:5px 11px;font-size:13.5px;cursor:pointer;white-space:nowrap}
.btn:hover:not(:disabled){background:var(--bg)}
.btn:disabled{opacity:.45;cursor:default}
.btn-icon{padding:5px 9px}
.btn-ghost{border-color:transparent;color:var(--accent-text);align-self:flex-end}
.listbar{display:flex;align-items:center;justify-content:space-between;gap:10px 16px;flex-wrap:wrap;margin:14px 0 10px}
.listbar.bottom{margin-top:6px}
.summary{margin:0;font-size:14.5px;font-weight:550;font-variant-numeric:tabular-nums}
.range{font-size:13px;color:var(--muted)}
.pager{display:flex;align-items:center;gap:6px;font-size:13.5px}
.page-of{color:var(--muted);white-space:nowrap;padding:0 4px}
.page-input{width:64px;border:1px solid var(--border-strong);border-radius:6px;padding:3px 6px;text-align:center;background:var(--card);font-variant-numeric:tabular-nums}
.groups{display:flex;flex-direction:column;gap:10px}
.group{background:var(--card);border:1px solid var(--border);border-radius:var(--radius);box-shadow:var(--shadow);overflow:hidden}
.ghead{display:flex;align-items:center;flex-wrap:wrap;gap:4px 14px;padding:9px 14px;border-bottom:1px solid var(--border);background:linear-gradient(var(--card),var(--card))}
.rank{font-size:12px;color:var(--faint);font-variant-numeric:tabular-nums;min-width:2.5em}
.gwasted{font-weight:650;color:var(--wasted);font-variant-numeric:tabular-nums}
.gmeta{color:var(--muted);font-size:13.5px;font-variant-numeric:tabular-nums}
.ghash{font-family:var(--mono);font-size:12px;color:var(--faint);margin-left:auto;cursor:help}
.files{list-style:none;margin:0;padding:4px 0}
.file{display:flex;align-items:flex-start;gap:8px;padding:3px 14px 3px 8px}
.file:hover{background:var(--bg)}
.path{font-family:var(--mono);font-size:13px;line-height:1.55;overflow-wrap:anywhere;direction:ltr;unicode-bidi:isolate;min-width:0}
.path .dir{color:var(--faint)}
.path .name{color:var(--text);font-weight:550}
mark{background:var(--mark);color:inherit;border-radius:2px;padding:0 1px}
.ctl{display:inline-block;font-size:10px;line-height:1.3;padding:0 3px;margin:0 1px;border-radius:3px;border:1px solid var(--wasted);color:var(--wasted);vertical-align:1px;font-weight:600}
.copy{flex:none;display:inline-flex;align-items:center;gap:4px;border:1px solid transparent;background:none;border-radius:6px;padding:1px 6px;font-size:12px;line-height:18px;color:var(--faint);cursor:pointer;min-width:66px}
.copy:hover{border-color:var(--border-strong);color:var(--accent-text);background:var(--card)}
.copy svg{width:14px;height:14px;flex:none}
.copy.copied{color:var(--ok);border-color:var(--ok)}
.copy.failed{color:var(--wasted);border-color:var(--wasted)}
.copy-all{margin-left:0}
.more{margin:2px 0 8px 82px}
.empty-state{background:var(--card);border:1px dashed var(--border-strong);border-radius:var(--radius);padding:28px;text-align:center;color:var(--muted)}
.toast{position:fixed;left:50%;bottom:22px;transform:translate(-50%,20px);background:#1b2230;color:#fff;padding:8px 16px;border-radius:8px;font-size:13.5px;opacity:0;pointer-events:none;transition:opacity .15s,transform .15s;max-width:min(90vw,640px);overflow:hidden;text-overflow:ellipsis;white-space:nowrap;z-index:20}
.toast.show{opacity:1;transform:translate(-50%,0)}
.clip-helper{position:fixed;top:0;left:-9999px;opacity:0}
.cat-chips{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0 0}
.chip{border:1px solid var(--border);background:var(--card);border-radius:8px;padding:5px 10px;font-size:12.5px;cursor:pointer;text-align:left;line-height:1.35}
.chip b{display:block;font-size:13.5px;font-variant-numeric:tabular-nums}
.chip span{color:var(--muted);font-variant-numeric:tabular-nums}
.chip[aria-pressed=true]{border-color:var(--accent);background:var(--accent-soft)}
.table-wrap{background:var(--card);border:1px solid var(--border);border-radius:var(--radius);overflow-x:auto;box-shadow:var(--shadow)}
.files-table{width:100%;border-collapse:collapse;font-size:13.5px}
.files-table th{position:sticky;top:0;background:var(--card);text-align:left;font-weight:600;color:var(--muted);font-size:12.5px;border-bottom:1px solid var(--border);padding:6px 10px;white-space:nowrap}
.files-table th button{background:none;border:0;padding:0;cursor:pointer;font-weight:600;color:inherit}
.files-table th[aria-sort=ascending] button::after{content:" \2191"}
.files-table th[aria-sort=descending] button::after{content:" \2193"}
.files-table td{padding:3px 10px;border-bottom:1px solid var(--border);vertical-align:top}
.files-table tr:last-child td{border-bottom:0}
.files-table .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.files-table .c-copy{width:1%;padding-right:0}
.files-table .c-hash{font-family:var(--mono);font-size:12px;color:var(--faint);white-space:nowrap}
.files-table .cat{white-space:nowrap;color:var(--muted)}
.files-table .dup{color:var(--wasted);font-weight:600}
.foot{color:var(--faint);font-size:12.5px;padding-bottom:28px}
@media (max-width:640px){
.wrap{padding:0 14px}.top h1{font-size:23px}.stat-value{font-size:19px}.stat-wasted .stat-value{font-size:21px}
.controls.sticky{position:static}.field.sm,.field.xs{flex:1 1 40%}.ghash{margin-left:0}.copy{min-width:0}.copy .copy-label{display:none}.more{margin-left:14px}
.pager .btn-icon{display:none}}
"""

# ---------------------------------------------------------------------------------------------
# behaviour (inserts data only as text: textContent, createTextNode, setAttribute)

_SCRIPT = r"""
"use strict";
(function () {
const T0 = performance.now();
const byId = (id) => document.getElementById(id);
const D = JSON.parse(byId("data").textContent);
const dirs = D.dirs, groups = D.groups, NG = groups.length;
const NF = new Intl.NumberFormat("en-US");
const fmt = (n) => NF.format(n);
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
function human(n) {
  if (n < 1024) return fmt(n) + " B";
  let v = n, i = 0;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  let r = Math.floor(v * 10 + 0.5) / 10;
  if (r >= 1024 && i < UNITS.length - 1) { r = Math.floor(r / 1024 * 10 + 0.5) / 10; i++; }
  return r.toFixed(1) + " " + UNITS[i];
}
const SIZE_RE = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(?:i?b)?\s*$/i;
const MULT = {"": 1, k: 1024, m: 1048576, g: 1073741824, t: 1099511627776, p: 1125899906842624};
function parseSize(s) {
  const m = SIZE_RE.exec(s);
  return m ? Math.round(parseFloat(m[1]) * MULT[m[2].toLowerCase()]) : NaN;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
const NS = byId("chart").namespaceURI;
function sv(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function icon(kind) {
  const s = sv("svg", {viewBox: "0 0 16 16", "aria-hidden": "true", fill: "none", stroke: "currentColor",
    "stroke-width": "1.5", "stroke-linecap": "round", "stroke-linejoin": "round"});
  if (kind === "check") sv("path", {d: "M3.5 8.5l3 3 6-7"}, s);
  else {
    sv("rect", {x: "5.5", y: "5.5", width: "8", height: "8", rx: "1.5"}, s);
    sv("path", {d: "M10.5 5.5V4A1.5 1.5 0 0 0 9 2.5H4A1.5 1.5 0 0 0 2.5 4v5A1.5 1.5 0 0 0 4 10.5h1.5"}, s);
  }
  return s;
}
// Invisible and reordering characters are shown as markers (same set as the generator's).
const CTL = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/;
const CTL_G = new RegExp(CTL.source, "g");
const CTL_NAMES = {9: "TAB", 10: "LF", 13: "CR"};
function appendPlain(parent, text) {
  if (!CTL.test(text)) { if (text) parent.appendChild(document.createTextNode(text)); return; }
  let last = 0;
  text.replace(CTL_G, (c, off) => {
    if (off > last) parent.appendChild(document.createTextNode(text.slice(last, off)));
    const cp = c.charCodeAt(0);
    const code = "U+" + cp.toString(16).toUpperCase().padStart(4, "0");
    const b = el("span", "ctl", CTL_NAMES[cp] || code);
    b.title = "Invisible character " + code + " in the name";
    parent.appendChild(b);
    last = off + c.length;
    return c;
  });
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}
function appendText(parent, text, marks) {
  if (!marks || !marks.length) { appendPlain(parent, text); return; }
  let pos = 0;
  for (const [s, e] of marks) {
    if (s > pos) appendPlain(parent, text.slice(pos, s));
    const m = document.createElement("mark");
    appendPlain(m, text.slice(s, e));
    parent.appendChild(m);
    pos = e;
  }
  if (pos < text.length) appendPlain(parent, text.slice(pos));
}
function findMarks(full, q) {
  if (!q) return null;
  const lower = full.toLowerCase();
  if (lower.length !== full.length) return null;
  const out = [];
  for (let i = lower.indexOf(q); i >= 0; i = lower.indexOf(q, i + q.length)) out.push([i, i + q.length]);
  return out;
}
function clip(marks, a, b) {
  if (!marks) return null;
  const out = [];
  for (const [s, e] of marks) {
    const s2 = Math.max(s, a), e2 = Math.min(e, b);
    if (s2 < e2) out.push([s2 - a, e2 - a]);
  }
  return out;
}
function pathEl(dir, name, q) {
  const full = dir + name, marks = findMarks(full, q);
  const p = el("span", "path");
  const ds = el("span", "dir"), ns = el("span", "name");
  appendText(ds, dir, clip(marks, 0, dir.length));
  appendText(ns, name, clip(marks, dir.length, full.length));
  p.append(ds, ns);
  return p;
}
function extOf(name) {
  const i = name.lastIndexOf(".");
  return i > 0 && i < name.length - 1 ? name.slice(i + 1).toLowerCase() : "";
}
function shortHash(h) { return h.length > 12 ? h.slice(0, 12) : h; }

// ---- clipboard
const toast = byId("toast");
let toastTimer = 0;
function showToast(msg) {
  toast.textContent = msg;
  toast.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove("show"), 1800);
}
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* try the fallback */ }
  }
  const active = document.activeElement;
  const ta = el("textarea", "clip-helper");
  ta.value = text;
  ta.readOnly = true;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  ta.remove();
  if (active && active.focus) active.focus();
  return ok;
}
function copyButton(label) {
  const b = el("button", "copy");
  b.type = "button";
  b.title = label;
  b.setAttribute("aria-label", label);
  b.appendChild(icon("copy"));
  b.appendChild(el("span", "copy-label", "Copy"));
  return b;
}
async function doCopy(btn, text, what) {
  const ok = await copyText(text);
  const lab = btn.querySelector(".copy-label");
  btn.classList.toggle("copied", ok);
  btn.classList.toggle("failed", !ok);
  btn.replaceChild(icon(ok ? "check" : "copy"), btn.querySelector("svg"));
  const dflt = btn.dataset.label || "Copy";
  lab.textContent = ok ? "Copied" : "Failed";
  showToast(ok ? "Copied " + what : "Could not copy: select the path and press Ctrl+C");
  clearTimeout(btn._t);
  btn._t = setTimeout(() => {
    btn.classList.remove("copied", "failed");
    btn.replaceChild(icon("copy"), btn.querySelector("svg"));
    lab.textContent = dflt;
  }, 1500);
}

// ---- duplicate groups: filters, sort, pages
const f = {text: byId("f-text"), min: byId("f-min"), max: byId("f-max"), ext: byId("f-ext"),
  copies: byId("f-copies"), sort: byId("f-sort")};
const state = {q: "", min: 0, max: Infinity, exts: null, copies: 0, sort: "wasted", page: 0, size: 50};
let filtered = [], hay = null, firstPaths = null;
function haystacks() {
  if (hay) return hay;
  const dl = dirs.map((d) => d.toLowerCase());
  hay = new Array(NG);
  for (let i = 0; i < NG; i++) {
    const g = groups[i];
    let s = "";
    for (let k = 4; k < g.length; k += 2) s += dl[g[k]] + g[k + 1].toLowerCase() + "\u0000";
    hay[i] = s;
  }
  return hay;
}
function groupHasExt(g, exts) {
  for (let k = 5; k < g.length; k += 2) if (exts.has(extOf(g[k]))) return true;
  return false;
}
function readFilters() {
  state.q = f.text.value.trim().toLowerCase();
  for (const [inp, key, dflt] of [[f.min, "min", 0], [f.max, "max", Infinity]]) {
    const s = inp.value.trim();
    const v = s ? parseSize(s) : dflt;
    const bad = Number.isNaN(v);
    inp.classList.toggle("invalid", bad);
    inp.setAttribute("aria-invalid", bad ? "true" : "false");
    state[key] = bad ? dflt : v;
  }
  const exts = f.ext.value.split(/[\s,;]+/).map((e) => e.replace(/^\*?\./, "").toLowerCase()).filter(Boolean);
  state.exts = exts.length ? new Set(exts) : null;
  const c = parseInt(f.copies.value, 10);
  state.copies = Number.isFinite(c) ? c : 0;
  state.sort = f.sort.value;
}
function firstPath(i) {
  if (!firstPaths) firstPaths = new Array(NG);
  let s = firstPaths[i];
  if (s === undefined) { const g = groups[i]; s = firstPaths[i] = g.length > 4 ? dirs[g[4]] + g[5] : ""; }
  return s;
}
const SORTS = {
  wasted: (a, b) => groups[b][3] - groups[a][3] || a - b,
  size: (a, b) => groups[b][0] - groups[a][0] || a - b,
  copies: (a, b) => groups[b][2] - groups[a][2] || a - b,
  path: (a, b) => { const x = firstPath(a), y = firstPath(b); return x < y ? -1 : x > y ? 1 : a - b; },
};
function recompute() {
  readFilters();
  const {q, min, max, exts, copies} = state;
  const H = q ? haystacks() : null;
  const out = [];
  for (let i = 0; i < NG; i++) {
    const g = groups[i];
    if (g[0] < min || g[0] > max || g[2] < copies) continue;
    if (H && H[i].indexOf(q) < 0) continue;
    if (exts && !groupHasExt(g, exts)) continue;
    out.push(i);
  }
  out.sort(SORTS[state.sort]);   // stable, ties keep the report's order
  filtered = out;
  state.page = 0;
  renderSummary();
  renderPage();
  drawChart();
}
function renderSummary() {
  let w = 0, nf = 0;
  for (const i of filtered) { w += groups[i][3]; nf += (groups[i].length - 4) / 2; }
  byId("summary").textContent = "Showing " + fmt(filtered.length) + " of " + fmt(NG) + " groups, " + human(w) +
    " wasted" + (filtered.length ? " (" + fmt(nf) + " files)" : "");
}
const pagers = Array.from(document.querySelectorAll("#panel-groups .pager"));
function pageCount() { return Math.max(1, Math.ceil(filtered.length / state.size)); }
const MAX_PATHS = 12, MORE_STEP = 500;
function groupCard(gi, rank) {
  const g = groups[gi], n = (g.length - 4) / 2;
  const art = el("article", "group");
  art.dataset.g = gi;
  const head = el("div", "ghead");
  head.append(el("span", "rank", "#" + fmt(rank)), el("span", "gwasted", human(g[3]) + " wasted"),
    el("span", "gmeta", fmt(g[2]) + " copies \u00d7 " + human(g[0]) + (g[0] >= 1024 ? " (" + fmt(g[0]) + " bytes)" : "")));
  const h = el("code", "ghash", shortHash(g[1]));
  h.title = g[1];
  const all = copyButton("Copy all " + fmt(n) + " paths, one per line");
  all.classList.add("copy-all");
  all.lastChild.textContent = all.dataset.label = "Copy all";
  all.dataset.all = "1";
  head.append(h, all);
  const ol = el("ol", "files");
  const shown = n <= MAX_PATHS + 3 ? n : MAX_PATHS;
  appendFiles(ol, gi, 0, shown);
  art.append(head, ol);
  if (shown < n) addMore(art, ol, gi, shown, n);
  return art;
}
function appendFiles(ol, gi, from, to) {
  const g = groups[gi], q = state.q;
  for (let j = from; j < to; j++) {
    const li = el("li", "file");
    const b = copyButton("Copy path");
    b.dataset.f = j;
    li.append(b, pathEl(dirs[g[4 + 2 * j]], g[5 + 2 * j], q));
    ol.appendChild(li);
  }
}
function addMore(art, ol, gi, shown, n) {
  const btn = el("button", "btn more", "Show " + fmt(Math.min(MORE_STEP, n - shown)) + " more of " + fmt(n) + " paths");
  btn.type = "button";
  btn.addEventListener("click", () => {
    const to = Math.min(n, shown + MORE_STEP);
    appendFiles(ol, gi, shown, to);
    btn.remove();
    if (to < n) addMore(art, ol, gi, to, n);
  });
  art.appendChild(btn);
}
function renderPage() {
  const pc = pageCount();
  state.page = Math.min(Math.max(0, state.page), pc - 1);
  const start = state.page * state.size, end = Math.min(filtered.length, start + state.size);
  const frag = document.createDocumentFragment();
  for (let k = start; k < end; k++) frag.appendChild(groupCard(filtered[k], k + 1));
  if (!filtered.length) {
    frag.appendChild(el("div", "empty-state", NG ? "No group matches these filters." :
      "No duplicate files were found."));
  }
  byId("groups").replaceChildren(frag);
  for (const p of pagers) {
    p.querySelector(".page-count").textContent = fmt(pc);
    const inp = p.querySelector(".page-input");
    inp.value = state.page + 1;
    inp.max = pc;
    p.querySelector("[data-act=first]").disabled = p.querySelector("[data-act=prev]").disabled = state.page === 0;
    p.querySelector("[data-act=last]").disabled = p.querySelector("[data-act=next]").disabled = state.page >= pc - 1;
  }
  byId("range").textContent = filtered.length ? "Groups " + fmt(start + 1) + "\u2013" + fmt(end) + " of " + fmt(filtered.length) : "";
}
function goPage(p, fromBottom) {
  state.page = p;
  renderPage();
  if (fromBottom) byId("controls").scrollIntoView({block: "start"});
}
for (const p of pagers) {
  const bottom = p.dataset.where === "bottom";
  p.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b || b.disabled) return;
    const act = b.dataset.act, pc = pageCount();
    goPage(act === "first" ? 0 : act === "prev" ? state.page - 1 : act === "next" ? state.page + 1 : pc - 1, bottom);
  });
  p.querySelector(".page-input").addEventListener("change", (e) => {
    const v = parseInt(e.target.value, 10);
    if (Number.isFinite(v)) goPage(v - 1, bottom); else renderPage();
  });
}
byId("groups").addEventListener("click", (e) => {
  const b = e.target.closest("button.copy");
  if (!b) return;
  const art = b.closest(".group"), g = groups[+art.dataset.g];
  if (b.dataset.all) {
    const ps = [];
    for (let k = 4; k < g.length; k += 2) ps.push(dirs[g[k]] + g[k + 1]);
    doCopy(b, ps.join("\n"), fmt(ps.length) + " paths");
  } else {
    const j = +b.dataset.f;
    doCopy(b, dirs[g[4 + 2 * j]] + g[5 + 2 * j], g[5 + 2 * j]);
  }
});
let debounce = 0;
function later() { clearTimeout(debounce); debounce = setTimeout(recompute, NG > 20000 ? 200 : 60); }
for (const k of ["text", "min", "max", "ext", "copies"]) f[k].addEventListener("input", later);
f.sort.addEventListener("change", recompute);
byId("f-reset").addEventListener("click", () => {
  for (const k of ["text", "min", "max", "ext", "copies"]) f[k].value = "";
  f.sort.value = "wasted";
  recompute();
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  e.preventDefault();
  f.text.focus();
});

// ---- chart: where the wasted space is (each group's wasted bytes shared evenly by its copies)
let chartMode = "dir", depth = 0, buckets = null;
const SEP = D.sep || "/";
const ROOTS = (D.roots || []).map((r) => r.endsWith(SEP) || r.endsWith("/") ? r : r + SEP);
function bucketOf(d) {
  if (!depth) return d;
  if (!buckets) buckets = new Map();
  let b = buckets.get(d);
  if (b !== undefined) return b;
  const s = dirs[d];
  let pos = 0;
  for (const r of ROOTS) if (r.length > pos && s.startsWith(r)) pos = r.length;
  for (let i = 0; i < depth && pos < s.length; i++) {
    const j = s.indexOf(SEP, pos);
    pos = j < 0 ? s.length : j + 1;
  }
  b = s.slice(0, pos);
  buckets.set(d, b);
  return b;
}
function pctText(p) { return p >= 10 ? p.toFixed(0) + "%" : p >= 1 ? p.toFixed(1) + "%" : p >= 0.01 ? p.toFixed(2) + "%" : "<0.01%"; }
function chartItems() {
  const acc = new Map();
  let total = 0;
  for (const i of filtered) {
    const g = groups[i], n = (g.length - 4) / 2;
    if (!n || !g[3]) continue;
    const share = g[3] / n;
    total += g[3];
    for (let k = 4; k < g.length; k += 2) {
      const key = chartMode === "dir" ? bucketOf(g[k]) : extOf(g[k + 1]);
      acc.set(key, (acc.get(key) || 0) + share);
    }
  }
  const items = Array.from(acc, ([key, value]) => ({key, value}));
  items.sort((a, b) => b.value - a.value);
  return {items: items.slice(0, 10), total, count: items.length};
}
function ellipsize(s, max, left) {
  if (s.length <= max) return s;
  return left ? "\u2026" + s.slice(s.length - max + 1) : s.slice(0, max - 1) + "\u2026";
}
function cleanLabel(s) { return s.replace(CTL_G, "\ufffd"); }
function drawChart() {
  const svg = byId("chart");
  const {items, total, count} = chartItems();
  const W = Math.max(300, byId("chart-box").clientWidth);
  const rowH = 23, pad = 3;
  const H = items.length ? items.length * rowH + pad * 2 : 36;
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.replaceChildren();
  const what = chartMode === "dir" ? "directories" : "extensions";
  byId("chart-note").textContent = items.length ?
    "Top " + items.length + " of " + fmt(count) + " " + what + " by wasted space in the groups shown; each group's wasted space is shared evenly by its copies. Click a bar to filter." :
    "";
  if (!items.length) {
    sv("text", {x: 0, y: 22, class: "empty"}, svg).textContent = "No wasted space in the groups shown.";
    return;
  }
  const narrow = W < 560;
  const labelW = Math.round(Math.min(W * (narrow ? 0.45 : 0.42), 430));
  const valW = narrow ? 78 : 150;
  const barX = labelW + 12, barMax = Math.max(20, W - barX - valW - 8);
  const max = items[0].value;
  const maxChars = Math.max(6, Math.floor((labelW - 4) / 7.3));
  items.forEach((it, r) => {
    const y = pad + r * rowH;
    const label = chartMode === "dir" ? (depth ? it.key : dirs[it.key]) : it.key ? "." + it.key : "(no extension)";
    const row = sv("g", {class: "row", tabindex: "0", role: "button"}, svg);
    const pct = total ? (100 * it.value / total) : 0;
    sv("title", {}, row).textContent = label + "\n" + human(Math.round(it.value)) + " wasted (" + pctText(pct) + ")";
    sv("text", {x: labelW, y: y + rowH / 2, "text-anchor": "end", "dominant-baseline": "central", class: "lbl"}, row)
      .textContent = ellipsize(cleanLabel(label), maxChars, chartMode === "dir");
    sv("rect", {x: barX, y: y + 4, width: barMax, height: rowH - 8, rx: 3, class: "bar-bg"}, row);
    sv("rect", {x: barX, y: y + 4, width: Math.max(2, barMax * it.value / max).toFixed(1), height: rowH - 8, rx: 3, class: "bar"}, row);
    sv("text", {x: barX + barMax + 8, y: y + rowH / 2, "dominant-baseline": "central", class: "val"}, row)
      .textContent = human(Math.round(it.value)) + (narrow ? "" : " \u00b7 " + pctText(pct));
    const pick = () => {
      if (chartMode === "dir") f.text.value = label; else f.ext.value = it.key || "";
      recompute();
    };
    row.addEventListener("click", pick);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
  });
}
for (const b of document.querySelectorAll(".seg-btn")) {
  b.addEventListener("click", () => {
    chartMode = b.dataset.mode;
    byId("chart-depth").disabled = chartMode !== "dir";
    for (const o of document.querySelectorAll(".seg-btn")) o.setAttribute("aria-pressed", o === b ? "true" : "false");
    drawChart();
  });
}
byId("chart-depth").addEventListener("change", (e) => { depth = +e.target.value; buckets = null; drawChart(); });
let resizeTimer = 0;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawChart, 120); });

// ---- extension suggestions
(function () {
  const counts = new Map();
  const step = Math.max(1, Math.floor(NG / 20000));
  for (let i = 0; i < NG; i += step) {
    const g = groups[i];
    const e = g.length > 5 ? extOf(g[5]) : "";
    if (e) counts.set(e, (counts.get(e) || 0) + 1);
  }
  const top = Array.from(counts).sort((a, b) => b[1] - a[1]).slice(0, 30);
  const dl = byId("ext-list");
  for (const [e] of top) { const o = document.createElement("option"); o.value = e; dl.appendChild(o); }
})();

// ---- errors beyond the ones rendered into the page
const moreErr = byId("errors-more");
if (moreErr) {
  let at = 0;
  moreErr.addEventListener("click", () => {
    const ul = byId("error-list"), rest = D.errorsRest, to = Math.min(rest.length, at + 1000);
    for (; at < to; at++) {
      const li = el("li");
      const p = el("span", "epath"), m = el("span", "emsg");
      appendPlain(p, rest[at][0]);
      appendPlain(m, rest[at][1]);
      li.append(p, m);
      ul.appendChild(li);
    }
    if (at >= rest.length) moreErr.remove(); else moreErr.textContent = "Show " + fmt(Math.min(1000, rest.length - at)) + " more";
  });
}

// ---- tabs
const tabs = Array.from(document.querySelectorAll(".tab"));
let filesReady = false;
for (const t of tabs) {
  t.addEventListener("click", () => {
    for (const o of tabs) {
      const on = o === t;
      o.setAttribute("aria-selected", on ? "true" : "false");
      byId(o.getAttribute("aria-controls")).hidden = !on;
    }
    if (t.id === "tab-files" && !filesReady && Array.isArray(D.files)) { filesReady = true; initFiles(); }
    if (t.id === "tab-groups") drawChart();
  });
}

// ---- all files table
function initFiles() {
  const rows = D.files, NR = rows.length;
  const MiB = 1048576;
  const CATS = [[0, MiB, "< 1 MiB"], [MiB, 5 * MiB, "1\u20135 MiB"], [5 * MiB, 50 * MiB, "5\u201350 MiB"],
    [50 * MiB, 500 * MiB, "50\u2013500 MiB"], [500 * MiB, 1024 * MiB, "500 MiB\u20131 GiB"],
    [1024 * MiB, 2048 * MiB, "1\u20132 GiB"], [2048 * MiB, Infinity, "> 2 GiB"]];
  const catOf = (s) => { for (let c = 0; c < CATS.length; c++) if (s < CATS[c][1]) return c; return CATS.length - 1; };
  const copies = new Map();
  for (const g of groups) copies.set(g[1] + ":" + g[0], g[2]);
  const cat = new Uint8Array(NR), cps = new Uint32Array(NR);
  const catCount = new Array(CATS.length).fill(0), catBytes = new Array(CATS.length).fill(0);
  for (let r = 0; r < NR; r++) {
    const row = rows[r], c = catOf(row[2]);
    cat[r] = c; catCount[c]++; catBytes[c] += row[2];
    cps[r] = row[3] == null ? 0 : copies.get(row[3] + ":" + row[2]) || 1;
  }
  let full = null, lower = null;
  const paths = () => full || (full = rows.map((r) => dirs[r[0]] + r[1]));
  const lowers = () => lower || (lower = paths().map((p) => p.toLowerCase()));
  const st = {q: "", cat: -1, dups: false, key: "path", dir: 1, page: 0, size: 100};
  let view = [];
  const sel = byId("ff-cat"), chips = byId("ff-chips");
  CATS.forEach((c, i) => {
    const o = document.createElement("option");
    o.value = i; o.textContent = c[2] + " (" + fmt(catCount[i]) + ")";
    sel.appendChild(o);
    const b = el("button", "chip");
    b.type = "button"; b.dataset.cat = i; b.setAttribute("aria-pressed", "false");
    const strong = el("b", null, c[2]);
    b.append(strong, el("span", null, fmt(catCount[i]) + " files \u00b7 " + human(catBytes[i])));
    b.addEventListener("click", () => { sel.value = st.cat === i ? "" : String(i); update(); });
    chips.appendChild(b);
  });
  const cmp = {
    path: (a, b) => { const P = paths(), x = P[a], y = P[b]; return x < y ? -1 : x > y ? 1 : 0; },
    size: (a, b) => rows[a][2] - rows[b][2] || a - b,
    cat: (a, b) => cat[a] - cat[b] || rows[a][2] - rows[b][2] || a - b,
    copies: (a, b) => cps[a] - cps[b] || a - b,
  };
  function update() {
    st.q = byId("ff-text").value.trim().toLowerCase();
    st.cat = sel.value === "" ? -1 : +sel.value;
    st.dups = byId("ff-dups").checked;
    const L = st.q ? lowers() : null, out = [];
    for (let r = 0; r < NR; r++) {
      if (st.cat >= 0 && cat[r] !== st.cat) continue;
      if (st.dups && cps[r] < 2) continue;
      if (L && L[r].indexOf(st.q) < 0) continue;
      out.push(r);
    }
    const c = cmp[st.key];
    out.sort(st.dir > 0 ? c : (a, b) => c(b, a));
    view = out;
    st.page = 0;
    for (const b of chips.children) b.setAttribute("aria-pressed", +b.dataset.cat === st.cat ? "true" : "false");
    render();
  }
  function render() {
    const pc = Math.max(1, Math.ceil(view.length / st.size));
    st.page = Math.min(Math.max(0, st.page), pc - 1);
    const start = st.page * st.size, end = Math.min(view.length, start + st.size);
    const frag = document.createDocumentFragment();
    for (let k = start; k < end; k++) {
      const r = view[k], row = rows[r];
      const tr = el("tr");
      tr.dataset.r = r;
      const c0 = el("td", "c-copy"); c0.appendChild(copyButton("Copy path"));
      const c1 = el("td"); c1.appendChild(pathEl(dirs[row[0]], row[1], st.q));
      const c2 = el("td", "num", human(row[2])); c2.title = fmt(row[2]) + " bytes";
      const c3 = el("td", "cat", CATS[cat[r]][2]);
      const c4 = el("td", "num" + (cps[r] > 1 ? " dup" : ""), cps[r] > 1 ? "\u00d7" + fmt(cps[r]) : row[3] == null ? "\u2014" : "1");
      const c5 = el("td", "c-hash", row[3] == null ? "not hashed" : shortHash(row[3]));
      if (row[3] != null) c5.title = row[3];
      tr.append(c0, c1, c2, c3, c4, c5);
      frag.appendChild(tr);
    }
    byId("files-body").replaceChildren(frag);
    let bytes = 0;
    for (const r of view) bytes += rows[r][2];
    byId("files-summary").textContent = "Showing " + fmt(view.length) + " of " + fmt(NR) + " files, " + human(bytes);
    const p = byId("files-pager");
    p.querySelector(".page-count").textContent = fmt(pc);
    const inp = p.querySelector(".page-input");
    inp.value = st.page + 1; inp.max = pc;
    p.querySelector("[data-act=prev]").disabled = st.page === 0;
    p.querySelector("[data-act=next]").disabled = st.page >= pc - 1;
    for (const th of document.querySelectorAll("#files-table th[data-key]")) {
      th.setAttribute("aria-sort", th.dataset.key === st.key ? (st.dir > 0 ? "ascending" : "descending") : "none");
    }
  }
  let t = 0;
  byId("ff-text").addEventListener("input", () => { clearTimeout(t); t = setTimeout(update, NR > 20000 ? 200 : 60); });
  sel.addEventListener("change", update);
  byId("ff-dups").addEventListener("change", update);
  for (const th of document.querySelectorAll("#files-table th[data-key]")) {
    th.querySelector("button").addEventListener("click", () => {
      const k = th.dataset.key;
      if (st.key === k) st.dir = -st.dir; else { st.key = k; st.dir = k === "path" ? 1 : -1; }
      update();
    });
  }
  const p = byId("files-pager");
  p.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b || b.disabled) return;
    st.page += b.dataset.act === "next" ? 1 : -1;
    render();
  });
  p.querySelector(".page-input").addEventListener("change", (e) => {
    const v = parseInt(e.target.value, 10);
    if (Number.isFinite(v)) st.page = v - 1;
    render();
  });
  byId("files-body").addEventListener("click", (e) => {
    const b = e.target.closest("button.copy");
    if (!b) return;
    const row = rows[+b.closest("tr").dataset.r];
    doCopy(b, dirs[row[0]] + row[1], row[1]);
  });
  update();
}

recompute();
document.documentElement.dataset.ready = "1";
window.dupReport = {parsedMs: T0, readyMs: performance.now(), groups: NG};
})();
"""
