"""The HTML report generator without a browser: escaping, self-containment, figures, data, writing."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _html import Doc, render_report, write_report
from _trees import ROOT
from utilities import html_generator as hg
from utilities.atomic import write_atomically
from utilities.html_generator import ALL_FILES_LIMIT
from utilities.paths import display_path

EVIL_IMG = "/data/in/<img src=x onerror=alert(1)>.txt"
EVIL_SCRIPT = "/data/in/</script><script>alert(2)</script>.txt"
BAD_BYTE = "/data/in/caf\\xff.txt"                      # a non-UTF-8 byte, pre-escaped as text
LINE_SEP = "/data/in/line\u2028sep\u2029para.txt"
RTL = "/data/in/invoice\u202egpj.exe"
ODD = ["/data/in/tab\there.txt", "/data/in/new\nline.txt", '/data/in/q"uo\'te & amp;.txt',
       "/data/in/\u05e9\u05dc\u05d5\u05dd.txt", "/data/in/emoji \U0001f600.txt", "/file-at-root.txt",
       "/data/in/back\\\\slash.txt"]


def group(size, files, h=None):
    files = list(files)
    return {"hash": h or hashlib.md5("".join(files).encode("utf-8", "surrogatepass")).hexdigest() * 2, "size": size,
            "count": len(files), "wasted_bytes": size * (len(files) - 1), "files": files}


def make_report(groups=None, **extra):
    groups = groups if groups is not None else [
        group(3 * 2**30, ["/data/a/movie.mkv", "/data/b/movie.mkv"]),
        group(1000, [EVIL_IMG, EVIL_SCRIPT, BAD_BYTE]),
        group(10, [LINE_SEP, RTL, *ODD]),
    ]
    rep = {
        "version": 1,
        "generated_at": 1764000000.0,
        "roots": ["/data"],
        "algorithm": "xxh128",
        "summary": {"files_scanned": 4512, "bytes_scanned": 5 * 2**40 + 123, "duplicate_groups": len(groups),
                    "duplicate_files": sum(len(g["files"]) for g in groups),
                    "wasted_bytes": 3328599654, "errors": 2},
        "groups": groups,
        "finished": True,
        "database": "postgresql+psycopg2://user:***@host/db",
        "duration_seconds": 12.3,
        "error_paths": [{"path": "/data/locked/<b>secret</b>", "error": "PermissionError: [Errno 13] denied"},
                        {"path": "/data/gone", "error": "FileNotFoundError: vanished"}],
        "all_files": None,
    }
    rep.update(extra)
    return rep


def data_of(text):
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    assert m, "no data element"
    return json.loads(m.group(1))


def group_paths(data):
    dirs = data["dirs"]
    return [[dirs[g[k]] + g[k + 1] for k in range(4, len(g), 2)] for g in data["groups"]]


def header_of(text):
    """The server-rendered part: everything before the data element."""
    return text.split('<script type="application/json"', 1)[0]


def stat(text, key):
    m = re.search(rf'data-stat="{key}">.*?<div class="stat-value"[^>]*>(.*?)</div>', text, re.S)
    assert m, key
    return m.group(1)


# ---------------------------------------------------------------------------------------------
# escaping


def test_every_path_survives_the_data_as_people_read_it():
    rep = make_report()
    data = data_of(render_report(rep))
    assert group_paths(data) == [[display_path(p) for p in g["files"]] for g in rep["groups"]]
    assert "/data/in/back\\\\\\\\slash.txt" in group_paths(data)[2]   # a backslash is shown doubled


def test_no_file_name_can_close_or_open_a_tag():
    text = render_report(make_report())
    # exactly two script elements end: the data and the page's own script
    assert text.lower().count("</script") == 2
    assert "<img" not in text.lower()
    assert "<script>alert" not in text
    assert "\\u003cimg src=x onerror=alert(1)\\u003e.txt" in text
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(2)" in text
    doc = Doc(text)
    assert [t for t, _ in doc.tags].count("script") == 2


def test_line_separators_and_invisible_characters_are_escaped_in_the_data():
    text = render_report(make_report())
    for ch in ("\u2028", "\u2029", "\u202e"):
        assert ch not in text
    assert "line\\u2028sep\\u2029para.txt" in text
    assert "invoice\\u202egpj.exe" in text


def test_a_name_that_looks_escaped_never_prints_like_an_undecodable_one():
    rep = make_report([group(5, ["/x/n\udcff.txt", "/x/n\\xff.txt"])])    # the byte 0xFF; the text "n\xff"
    text = render_report(rep)
    text.encode("utf-8")                      # would raise on a lone surrogate
    assert group_paths(data_of(text))[0] == ["/x/n\\xff.txt", "/x/n\\\\xff.txt"]


def test_lone_surrogates_from_a_careless_caller_become_escaped_text():
    rep = make_report([group(5, ["/x/bad\udcff.txt", "/x/ok.txt"])], roots=["/x\udcfe"])
    text = render_report(rep)
    text.encode("utf-8")
    assert group_paths(data_of(text))[0][0] == "/x/bad\\xff.txt"
    assert "/x\\xfe" in header_of(text)


def test_header_values_are_html_escaped():
    rep = make_report(roots=['/data/<b>bold</b> & "quoted"'], algorithm="<i>x</i>",
                      database='sqlite:///a?x=<y>&z="1"')
    head = header_of(render_report(rep))
    assert "<b>" not in head and "<i>" not in head and "<y>" not in head
    assert "/data/&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in head
    assert "&lt;i&gt;x&lt;/i&gt;" in head
    assert "sqlite:///a?x=&lt;y&gt;&amp;z=&quot;1&quot;" in head
    # error paths too
    assert "/data/locked/&lt;b&gt;secret&lt;/b&gt;" in head


def test_invisible_characters_in_the_header_are_shown_as_markers():
    head = header_of(render_report(make_report(roots=["/data/evil\u202eroot", "/tab\there"])))
    assert "\u202e" not in head and "\t" not in head.split("<body", 1)[1].split("<ul class=\"roots\">")[1][:200]
    assert "/data/evil\u27e8U+202E\u27e9root" in head
    assert "/tab\u27e8TAB\u27e9here" in head


def test_template_helper_escapes_everything_but_its_own_markup():
    inner = hg._html('<b title="$t">$v</b>', t='"><script>', v="<i>")
    assert inner == '<b title="&quot;&gt;&lt;script&gt;">&lt;i&gt;</b>'
    outer = hg._html("<p>$x $y</p>", x=inner, y="a&b")
    assert outer == '<p><b title="&quot;&gt;&lt;script&gt;">&lt;i&gt;</b> a&amp;b</p>'
    assert hg._html("$n", n=1234) == "1234"


# ---------------------------------------------------------------------------------------------
# self-contained


def test_document_loads_nothing_from_anywhere():
    text = render_report(make_report())
    assert text.startswith("<!doctype html>")
    assert text.rstrip().endswith("</html>")
    low = text.lower()
    for needle in ("http://", "https://", "<script src", "<link", "<iframe", "<object", "<embed",
                   "@import", "url(", "<base"):
        assert needle not in low, needle
    doc = Doc(text)
    for tag, attrs in doc.tags:
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)   # no inline handlers


def test_page_script_never_builds_html_from_strings():
    script = hg._SCRIPT
    for needle in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function", "fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon",
                   "import("):
        assert needle not in script, needle


def test_csp_allows_only_the_hashed_inline_script_and_style():
    text = render_report(make_report())
    doc = Doc(text)
    metas = [a for t, a in doc.tags if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy"]
    assert len(metas) == 1
    policy = dict(p.strip().split(" ", 1) for p in metas[0]["content"].split(";") if p.strip())
    assert policy["default-src"] == "'none'"

    def digest(s):
        return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"

    code = [body for attrs, body in doc.scripts if attrs.get("type") != "application/json"]
    assert len(code) == 1 and not [a for a, _ in doc.scripts if "src" in a]
    assert policy["script-src"] == digest(code[0])
    assert len(doc.styles) == 1
    assert policy["style-src"] == digest(doc.styles[0][1])
    assert "unsafe" not in metas[0]["content"]
    # the policy must come before anything it governs
    assert text.index("Content-Security-Policy") < text.index("<style>") < text.index("<script")


# ---------------------------------------------------------------------------------------------
# figures


def test_header_figures_and_units():
    text = render_report(make_report())
    assert stat(text, "wasted") == "3.1 GiB"
    assert "3,328,599,654 bytes" in text
    assert stat(text, "groups") == "3"
    assert stat(text, "dupfiles") == "14"
    assert stat(text, "files") == "4,512"
    assert stat(text, "bytes") == "5.0 TiB"
    assert stat(text, "errors") == "2"
    assert stat(text, "duration") == "12.3 s"
    head = header_of(text)
    assert '<time datetime="2025-11-24T16:00:00Z">' in head
    assert "<code>xxh128</code>" in head
    assert "postgresql+psycopg2://user:***@host/db" in head
    assert '<code class="root">/data</code>' in head


@pytest.mark.parametrize("seconds,text", [(0.4, "0.4 s"), (754.2, "12m 34s"), (3725, "1h 02m"), (None, "\u2014")])
def test_time_taken(seconds, text):
    assert stat(render_report(make_report(duration_seconds=seconds)), "duration") == text


def test_error_paths_in_a_collapsible_list():
    text = render_report(make_report())
    m = re.search(r'<details class="errors" id="errors"><summary>(.*?)</summary>(.*?)</details>', text, re.S)
    assert m and m.group(1) == "2 paths could not be read"
    assert m.group(2).count("<li>") == 2 and "FileNotFoundError: vanished" in m.group(2)
    clean = render_report(make_report(error_paths=[], summary={**make_report()["summary"], "errors": 0}))
    assert '<details class="errors"' not in clean and stat(clean, "errors") == "0"


def test_a_long_error_list_renders_the_first_thousand_and_ships_the_rest():
    errors = [{"path": f"/data/x{i}", "error": "PermissionError"} for i in range(hg.ERRORS_INLINE + 250)]
    text = render_report(make_report(error_paths=errors))
    head = header_of(text)
    assert head.count('<span class="epath">') == hg.ERRORS_INLINE
    assert "Show the other 250" in head
    rest = data_of(text)["errorsRest"]
    assert len(rest) == 250 and rest[0] == ["/data/x1000", "PermissionError"]


def test_interrupted_scan_banner():
    interrupted = render_report(make_report(finished=False))
    assert "This scan was interrupted." in interrupted
    assert "The groups cover only what was compared" in interrupted
    assert '<div class="banner" role="alert">' in interrupted
    assert "(interrupted scan)</title>" in interrupted
    finished = render_report(make_report())
    assert "interrupted" not in header_of(finished).split("<body", 1)[1]


# ---------------------------------------------------------------------------------------------
# data


def test_group_and_path_order_is_kept():
    groups = [group(100, ["/z/late", "/a/early"]), group(5000, ["/m/1", "/m/2"]), group(7, ["/q/x", "/b/y", "/k/z"])]
    data = data_of(render_report(make_report(groups)))
    assert group_paths(data) == [["/z/late", "/a/early"], ["/m/1", "/m/2"], ["/q/x", "/b/y", "/k/z"]]
    assert [g[:4] for g in data["groups"]] == [[100, groups[0]["hash"], 2, 100],
                                                [5000, groups[1]["hash"], 2, 5000],
                                                [7, groups[2]["hash"], 3, 14]]


def test_directories_are_shared():
    groups = [group(1, [f"/photos/2019/trip/IMG_{i}.jpg", f"/backup/photos/2019/trip/IMG_{i}.jpg"]) for i in range(50)]
    data = data_of(render_report(make_report(groups)))
    assert sorted(data["dirs"]) == ["/backup/photos/2019/trip/", "/photos/2019/trip/"]


def long_paths(n_groups, per=3):
    return [group(1000 + i, [f"/home/someone/Pictures/{2000 + i % 25}/{i % 40:02d} Holiday in the mountains/"
                             f"IMG_{i:06d}{'' if k == 0 else f' ({k})'}.jpg" for k in range(per)])
            for i in range(n_groups)]


def test_data_stays_compact():
    small = render_report(make_report(long_paths(1000))).encode()
    large = render_report(make_report(long_paths(3000))).encode()
    per_path = (len(large) - len(small)) / 6000
    assert per_path < 150, per_path
    average = len(large) / 9000              # page, style and script included
    assert average < 150, average
    # paths here are ~70 characters: the directory table must be doing its work
    assert per_path < 70, per_path


def test_all_files_table_included_under_the_limit():
    rows = [{"path": "/data/a/movie.mkv", "size": 3 * 2**30, "hash": "ab" * 16},
            {"path": "/data/c/<odd>.txt", "size": 12, "hash": None}]
    text = render_report(make_report(all_files=rows))
    data = data_of(text)
    assert [[data["dirs"][r[0]] + r[1], r[2], r[3]] for r in data["files"]] == \
        [["/data/a/movie.mkv", 3 * 2**30, "ab" * 16], ["/data/c/<odd>.txt", 12, None]]
    assert 'id="tab-files"' in text and 'id="panel-files"' in text and 'id="files-table"' in text
    assert "files-omitted" not in text


def test_all_files_left_out_above_the_limit_with_a_note():
    assert ALL_FILES_LIMIT == 200_000
    rows = [{"path": f"/data/f{i}", "size": i, "hash": None} for i in range(5)]
    at_limit = data_of(render_report(make_report(all_files=rows), all_files_limit=5))
    assert len(at_limit["files"]) == 5
    text = render_report(make_report(all_files=rows), all_files_limit=4)
    data = data_of(text)
    assert data["files"] is None and data["filesTotal"] == 5
    note = re.search(r'<p class="note" id="files-omitted">(.*?)</p>', text, re.S)
    assert note, "no note"
    assert "All-files table left out" in note.group(1)
    assert "The scan listed 5 files, more than the 4 this report embeds" in note.group(1)
    assert 'id="files-table"' not in text


def test_no_all_files_section_without_all_files():
    text = render_report(make_report(all_files=None))
    assert 'id="tab-files"' not in text and 'id="panel-files"' not in text
    assert data_of(text)["files"] is None


def test_empty_and_minimal_reports_render():
    text = render_report({"groups": [], "summary": {"files_scanned": 0, "bytes_scanned": 0, "duplicate_groups": 0,
                                                    "duplicate_files": 0, "wasted_bytes": 0, "errors": 0}})
    assert stat(text, "wasted") == "0 B"
    assert stat(text, "groups") == "0"
    assert data_of(text)["groups"] == []


def test_rendering_is_deterministic():
    assert render_report(make_report()) == render_report(make_report())


def test_the_report_needs_no_database_library():
    """html_generator renders plain data: importing it loads neither SQLAlchemy nor a driver."""
    code = ("import sys, utilities.html_generator; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'psycopg2')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# writing


def test_write_report_writes_utf8_and_never_makes_folders(tmp_path):
    target = tmp_path / "deep" / "er" / "report.html"
    rep = make_report()
    with pytest.raises(FileNotFoundError) as missing:
        write_report(target, rep)           # folders named by the user must exist (cli-contract.md)
    assert missing.value.filename == str(target.parent) and not target.parent.exists()
    target.parent.mkdir(parents=True)
    write_report(target, rep)
    assert target.read_bytes().decode("utf-8") == render_report(rep)
    write_report(str(tmp_path / "as-str.html"), rep)     # str works as well as a PathLike
    assert (tmp_path / "as-str.html").stat().st_size == target.stat().st_size
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_write_report_replaces_atomically(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("OLD")
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src), Path(dst), Path(src).read_bytes()))
        assert target.read_text() == "OLD"       # the old report stays whole until the rename
        real_replace(src, dst)

    monkeypatch.setattr(hg.os, "replace", spy)
    write_report(target, make_report())
    assert len(seen) == 1
    src, dst, content = seen[0]
    assert dst == target and src.parent == target.parent and src != target
    assert content == target.read_bytes() and content.endswith(b"</html>\n")
    assert not src.exists()


def test_a_failed_write_leaves_the_old_report_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("OLD")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(hg.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(target, make_report())
    assert target.read_text() == "OLD"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    monkeypatch.undo()

    def half_then_fail(f):
        f.write("NEW, half")
        raise ValueError("rendering failed")
    with pytest.raises(ValueError):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "OLD"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_written_report_is_readable_by_others(tmp_path):
    target = tmp_path / "report.html"
    write_report(target, make_report())
    assert target.stat().st_mode & 0o044 == 0o044          # mkstemp's 0600 is not kept
