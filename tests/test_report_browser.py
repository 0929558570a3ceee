"""The HTML report in a real browser: Debian's headless Chromium driven by Playwright.

Opens generated reports from file:// and uses them as a person would: reads the header, filters,
sorts, pages, copies a path, clicks the chart, opens the all-files table. Every test also checks
that the page made no request but for its own file and logged no error.

Skips without /usr/bin/chromium or the playwright package, except with CI=true, where that fails.
Never downloads a browser: Playwright is pointed at /usr/bin/chromium.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from _html import write_report
from _run import IN_CI
from _trees import ROOT
from utilities.units import human_bytes

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]   # one worker starts Chromium once

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = ROOT / "outputs" / "report_screenshot.png"


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and the browser tests cannot run: {why}. .ci/run must install Debian's "
                    "chromium and the pinned playwright from requirements-dev.txt.", pytrace=False)
    pytest.skip(why, allow_module_level=True)


try:
    from playwright.sync_api import sync_playwright
except ImportError as e:       # pragma: no cover - depends on the machine
    _unavailable(f"playwright is not installed ({e})")
if not os.access(CHROMIUM, os.X_OK):
    _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")

EVIL = "/home/u/Downloads/<img src=x onerror=alert(1)>.jpg"
MiB = 2**20


def _group(i: int) -> dict:
    copies = 2 + i % 4
    size = (i + 1) * 100_000
    if i % 3 == 0:
        files = [f"/home/u/Pictures/Vacation {2010 + i % 7}/IMG_{i:04d}{'' if k == 0 else f' ({k})'}.jpg"
                 for k in range(copies)]
    else:
        files = [f"/home/u/Documents/{'work' if k % 2 else 'backup'}/{k}/report_{i:04d}.pdf" for k in range(copies)]
    return {"hash": f"{i:04x}" * 8, "size": size, "count": copies, "wasted_bytes": size * (copies - 1),
            "files": sorted(files)}


def make_report(n: int = 130, **extra) -> dict:
    groups = [_group(i) for i in range(n)]
    groups.append({"hash": "ee" * 16, "size": 4242, "count": 3, "wasted_bytes": 8484,
                   "files": sorted([EVIL, "/home/u/Downloads/</script>.jpg", "/home/u/Downloads/rtl\u202egpj.exe"])})
    groups.sort(key=lambda g: -g["wasted_bytes"])
    rep = {"version": 1, "generated_at": 1764000000.0, "roots": ["/home/u"], "algorithm": "xxh128",
           "summary": {"files_scanned": 4512, "bytes_scanned": 7 * 2**30, "duplicate_groups": len(groups),
                       "duplicate_files": sum(g["count"] for g in groups),
                       "wasted_bytes": sum(g["wasted_bytes"] for g in groups), "errors": 1},
           "groups": groups, "finished": True, "database": "sqlite:///outputs/file_hashes.db",
           "duration_seconds": 12.3,
           "error_paths": [{"path": "/home/u/locked", "error": "PermissionError: [Errno 13] Permission denied"}],
           "all_files": None}
    rep.update(extra)
    return rep


def expected(rep: dict, keep) -> str:
    """The summary line the page should show for the groups keep() accepts."""
    gs = [g for g in rep["groups"] if keep(g)]
    return (f"Showing {len(gs):,} of {len(rep['groups']):,} groups, "
            f"{human_bytes(sum(g['wasted_bytes'] for g in gs))} wasted")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def report_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("reports")
    rep = make_report()
    files = []
    for i in range(250):
        size = [10, 2 * MiB, 20 * MiB, 200 * MiB, 700 * MiB, 1500 * MiB, 3000 * MiB][i % 7] + i
        files.append({"path": f"/home/u/all/{i % 5}/file{i:03d}.bin", "size": size,
                      "hash": None if i % 2 else f"{i:032x}"})
    paths = {"main": d / "report.html", "interrupted": d / "interrupted.html", "files": d / "files.html"}
    write_report(paths["main"], rep)
    write_report(paths["interrupted"], make_report(20, finished=False))
    write_report(paths["files"], make_report(20, all_files=files))
    return paths, rep, files


class Session:
    """One page with everything it requested and every error it raised."""

    def __init__(self, browser, path: Path):
        self.url = path.as_uri()
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.requests, self.errors, self.dialogs = [], [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.errors.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready='1']")

    def summary(self) -> str:
        return self.page.text_content("#summary")

    def wait_summary(self, text: str) -> None:
        self.page.wait_for_function("(t) => document.getElementById('summary').textContent.startsWith(t)", arg=text)

    def assert_clean(self) -> None:
        assert self.requests == [self.url], self.requests        # no network, no second file
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs


@pytest.fixture
def open_report(browser, report_files):
    sessions = []

    def open_(which: str = "main") -> Session:
        s = Session(browser, report_files[0][which])
        sessions.append(s)
        return s
    yield open_
    for s in sessions:
        s.context.close()


def test_header_figures(open_report, report_files):
    _, rep, _ = report_files
    s = open_report()
    stat = lambda k: s.page.text_content(f'[data-stat="{k}"] .stat-value')  # noqa: E731
    assert stat("wasted") == human_bytes(rep["summary"]["wasted_bytes"])
    assert stat("groups") == "131"
    assert stat("files") == "4,512"
    assert stat("bytes") == "7.0 GiB"
    assert stat("errors") == "1"
    assert stat("duration") == "12.3 s"
    assert s.page.locator(".banner").count() == 0
    s.page.click("#errors summary")
    assert s.page.is_visible("text=PermissionError: [Errno 13] Permission denied")
    assert s.summary() == expected(rep, lambda g: True) + f" ({rep['summary']['duplicate_files']:,} files)."
    s.assert_clean()


def test_interrupted_banner_is_prominent(open_report):
    s = open_report("interrupted")
    banner = s.page.locator(".banner")
    assert banner.is_visible()
    assert "This scan was interrupted." in banner.text_content()
    assert "The groups cover only what was compared" in banner.text_content()
    box = banner.bounding_box()
    assert box["y"] < 5 and box["width"] > 1000          # at the very top, across the page
    s.assert_clean()


def test_filters_change_the_count(open_report, report_files):
    _, rep, _ = report_files
    s = open_report()
    every = expected(rep, lambda g: True)
    s.page.fill("#f-text", "VACATION")
    s.wait_summary(expected(rep, lambda g: any("vacation" in p.lower() for p in g["files"])))
    assert s.page.locator("#groups mark").first.text_content() == "Vacation"
    s.page.fill("#f-text", "")
    s.wait_summary(every)

    s.page.fill("#f-min", "10M")                       # the command line's units: M = 1,000,000 bytes
    s.wait_summary(expected(rep, lambda g: g["size"] >= 10 * 10**6))
    s.page.fill("#f-max", "11.5m")
    s.wait_summary(expected(rep, lambda g: 10 * 10**6 <= g["size"] <= 11.5 * 10**6))
    s.page.fill("#f-min", "10MiB")                     # ...and MiB = 1,048,576 bytes
    s.wait_summary(expected(rep, lambda g: 10 * MiB <= g["size"] <= 11.5 * 10**6))
    s.page.fill("#f-max", "twelve")                    # not a size: marked, said, and ignored
    s.wait_summary(expected(rep, lambda g: g["size"] >= 10 * MiB))
    assert "invalid" in s.page.get_attribute("#f-max", "class")
    assert "\u201ctwelve\u201d is not a size and is ignored" in s.summary()
    s.page.fill("#f-max", "")
    s.page.fill("#f-min", "")
    s.wait_summary(every)

    s.page.fill("#f-ext", ".PDF")
    s.wait_summary(expected(rep, lambda g: any(p.endswith(".pdf") for p in g["files"])))
    s.page.fill("#f-copies", "5")
    s.wait_summary(expected(rep, lambda g: g["count"] >= 5 and any(p.endswith(".pdf") for p in g["files"])))
    s.page.click("#f-reset")
    s.wait_summary(every)
    s.assert_clean()


def test_sorting(open_report, report_files):
    _, rep, _ = report_files
    s = open_report()
    first_meta = lambda: s.page.text_content("#groups .group:first-child .gmeta")  # noqa: E731
    s.page.select_option("#f-sort", "copies")
    s.page.wait_for_function("() => document.querySelector('#groups .group .gmeta').textContent.startsWith('5 copies')")
    s.page.select_option("#f-sort", "size")
    biggest = max(g["size"] for g in rep["groups"])
    s.page.wait_for_function("(t) => document.querySelector('#groups .group .gmeta').textContent.includes(t)",
                             arg=f"({biggest:,} bytes)")
    s.page.select_option("#f-sort", "path")
    first = min(g["files"][0] for g in rep["groups"])
    s.page.wait_for_function("(t) => document.querySelector('#groups .group .path').textContent === t", arg=first)
    s.page.select_option("#f-sort", "wasted")
    assert first_meta().startswith(f"{rep['groups'][0]['count']} copies")
    s.assert_clean()


def test_paging(open_report, report_files):
    _, rep, _ = report_files
    s = open_report()
    cards = s.page.locator("#groups .group")
    pager = s.page.locator('.pager[data-where="top"]')
    assert cards.count() == 50
    assert s.page.text_content("#range") == "Groups 1\u201350 of 131"
    assert pager.locator(".page-count").text_content() == "3"
    assert pager.locator("[data-act=prev]").is_disabled()
    pager.locator("[data-act=next]").click()
    assert pager.locator(".page-input").input_value() == "2"
    assert s.page.text_content("#groups .group:first-child .rank") == "#51"
    assert s.page.text_content("#range") == "Groups 51\u2013100 of 131"
    # the bottom pager moves the same pages and brings the list back into view
    s.page.locator('.pager[data-where="bottom"] [data-act=next]').click()
    assert cards.count() == 31
    assert pager.locator("[data-act=next]").is_disabled()
    want = rep["groups"][100]["files"][0]
    assert s.page.text_content("#groups .group:first-child .path") == want
    pager.locator(".page-input").fill("1")
    pager.locator(".page-input").press("Enter")
    assert s.page.text_content("#groups .group:first-child .rank") == "#1"
    s.assert_clean()


def test_copy_button_copies_the_path(open_report):
    s = open_report()
    s.context.grant_permissions(["clipboard-read", "clipboard-write"])
    s.page.fill("#f-text", "onerror")
    s.wait_summary("Showing 1 of 131 groups")
    row = s.page.locator("#groups .file", has_text="onerror=alert(1)")
    assert row.locator(".path").text_content() == EVIL            # shown as text, never as markup
    assert s.page.locator("img").count() == 0
    row.locator("button.copy").click()
    s.page.wait_for_selector("#groups .file button.copy.copied")
    assert row.locator(".copy-label").text_content() == "Copied"
    assert "Copied" in s.page.text_content("#toast")
    assert s.page.evaluate("navigator.clipboard.readText()") == EVIL
    # the confirmation is brief
    s.page.wait_for_function("() => !document.querySelector('#groups button.copy.copied')", timeout=5000)
    # copy all paths of the group
    s.page.click("#groups .group button.copy-all")
    s.page.wait_for_selector("#groups button.copy-all.copied")
    assert s.page.evaluate("navigator.clipboard.readText()").split("\n") == sorted(
        [EVIL, "/home/u/Downloads/</script>.jpg", "/home/u/Downloads/rtl\u202egpj.exe"])
    s.assert_clean()


def test_copy_falls_back_without_the_clipboard_api(open_report):
    s = open_report()
    s.page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
    s.page.evaluate("document.execCommand = (c) => "
                    "{ window.__copied = document.activeElement.value; return c === 'copy'; }")
    s.page.locator("#groups .file button.copy").first.click()
    s.page.wait_for_selector("#groups .file button.copy.copied")
    assert s.page.evaluate("window.__copied") == s.page.text_content("#groups .file .path >> nth=0")
    assert s.page.locator("textarea").count() == 0           # the helper is removed again
    s.assert_clean()


def test_invisible_characters_are_visible(open_report):
    s = open_report()
    s.page.fill("#f-text", "rtl")
    s.wait_summary("Showing 1 of 131 groups")
    badge = s.page.locator("#groups .path .ctl")
    assert badge.count() == 1 and badge.text_content() == "U+202E"
    s.assert_clean()


def test_chart_shows_where_the_waste_is_and_filters(open_report, report_files):
    _, rep, _ = report_files
    s = open_report()
    rows = s.page.locator("#chart .row")
    assert rows.count() == 10
    widths = [float(w) for w in
              s.page.eval_on_selector_all("#chart .bar", "els => els.map(e => e.getAttribute('width'))")]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    label = s.page.text_content("#chart .row:first-child .lbl")
    rows.first.click()
    text = s.page.input_value("#f-text")
    assert text.endswith("/") and label.lstrip("\u2026") in text
    s.wait_summary(expected(rep, lambda g: any(text.lower() in p.lower() for p in g["files"])))
    s.page.click(".seg-btn[data-mode=ext]")
    labels = s.page.eval_on_selector_all("#chart .lbl", "els => els.map(e => e.textContent)")
    assert set(labels) <= {".jpg", ".pdf", ".exe"} and labels
    s.assert_clean()


def test_all_files_table(open_report, report_files):
    _, _, files = report_files
    s = open_report("files")
    s.page.click("#tab-files")
    assert s.page.is_visible("#files-table") and not s.page.is_visible("#groups")
    rows = s.page.locator("#files-body tr")
    assert rows.count() == 100
    total = sum(f["size"] for f in files)
    assert s.page.text_content("#files-summary") == f"Showing 250 of 250 files, {human_bytes(total)}"
    s.page.select_option("#ff-cat", "6")                 # > 2 GiB
    big = [f for f in files if f["size"] >= 2048 * MiB]
    s.page.wait_for_function("(t) => document.getElementById('files-summary').textContent.startsWith(t)",
                             arg=f"Showing {len(big)} of 250 files")
    s.page.click("#files-table th[data-key=size] button")      # biggest first
    top = max(big, key=lambda f: f["size"])
    assert s.page.text_content("#files-body tr:first-child .path") == top["path"]
    assert s.page.text_content("#files-body tr:first-child td.cat") == "> 2 GiB"
    s.page.select_option("#ff-cat", "")
    s.page.fill("#ff-text", "/3/file")
    want = [f for f in files if "/3/file" in f["path"]]
    s.page.wait_for_function("(t) => document.getElementById('files-summary').textContent.startsWith(t)",
                             arg=f"Showing {len(want)} of 250 files")
    s.page.click("#tab-groups")
    assert s.page.is_visible("#groups") and not s.page.is_visible("#files-table")
    s.assert_clean()


def test_screenshot(open_report):
    s = open_report()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    s.page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000
    s.assert_clean()


def test_content_security_policy_is_in_force(open_report):
    # (this is also why every wait_for_function above is given a function, not an expression:
    # Playwright evaluates expression strings with eval, which the report's policy forbids)
    s = open_report()
    outcome = s.page.evaluate("""() => new Promise((done) => {
        document.addEventListener("securitypolicyviolation", (e) => done(e.violatedDirective));
        const el = document.createElement("script");
        el.textContent = "window.injected = 1";      // not the hashed script: must not run
        document.body.appendChild(el);
        setTimeout(() => done(window.injected ? "injected script ran" : "no violation reported"), 2000);
    })""")
    assert outcome.startswith("script-src")
    assert s.page.evaluate("() => window.injected") is None
    assert all("Content Security Policy" in e for e in s.errors) and s.errors   # the refusal, logged
    s.errors.clear()
    s.assert_clean()


def test_sizes_read_as_on_the_command_line_and_hard_links_shown(browser, tmp_path):
    """Five pairs of 1,000,000-byte duplicates, as `--min-size 1M` would find them: typing 1M, 1MB or 1000K
    keeps all five (they are 1,000,000 bytes), 1MiB keeps none; text that is no size is said to be ignored.
    A listed file's other names (hard links) are shown under it."""
    groups = [{"hash": f"{i:032x}", "size": 1_000_000, "count": 2, "wasted_bytes": 1_000_000,
               "files": [f"/m/a{i}.bin", f"/m/b{i}.bin"]} for i in range(5)]
    groups[0]["hard_links"] = {"/m/a0.bin": ["/m/z/a0-hardlink.bin"]}
    rep = make_report(0)
    rep["groups"] = groups
    rep["summary"] = {**rep["summary"], "duplicate_groups": 5, "duplicate_files": 10, "wasted_bytes": 5_000_000}
    page_file = tmp_path / "sizes.html"
    write_report(page_file, rep)
    s = Session(browser, page_file)
    try:
        for text, kept in (("1M", 5), ("1MB", 5), ("1000K", 5), ("1000000", 5), ("1000001", 0), ("1MiB", 0)):
            s.page.fill("#f-min", text)
            s.wait_summary(f"Showing {kept:,} of 5 groups")
        for bad in ("1.5.2", "1 MiBs", "-3", "1e6"):
            s.page.fill("#f-min", bad)
            said = f"\u201c{bad}\u201d is not a size and is ignored"
            s.page.wait_for_function("(t) => document.getElementById('summary').textContent.includes(t)", arg=said)
            assert s.summary().startswith("Showing 5 of 5 groups")
            assert "invalid" in s.page.get_attribute("#f-min", "class")
        s.page.fill("#f-min", "")
        links = s.page.locator(".group .links")
        assert links.count() == 1
        assert "also named (hard links)" in links.first.text_content()
        assert "/m/z/a0-hardlink.bin" in links.first.text_content()
        s.assert_clean()
    finally:
        s.context.close()
