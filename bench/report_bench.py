"""Benchmark of the HTML report: generation time, size per path, and time to first page in Chromium.

    python bench/report_bench.py                      # 100,000 groups / 300,000 paths
    python bench/report_bench.py --groups 20000 --no-browser
    python bench/report_bench.py --photos 200 --screenshot outputs/photos.png   # a realistic small report

Builds a synthetic report (paths shaped like a photo library with backups), times render_report and
write_report, prints bytes per path, then opens the file from file:// in headless Debian Chromium
(through Playwright, never a downloaded browser) and times until the header and then the first page
of groups are on screen. Needs nothing but the standard library for the first part.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utilities.html_generator import render_report, write_report  # noqa: E402
from utilities.report import Group, ListedFile, Report, Summary, sort_groups  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

_EVENTS = ["Summer trip", "Birthday Anna", "Christmas", "Wedding Marco & Lisa", "Hiking Dolomites",
           "Beach", "School play", "New flat", "Garden", "Paris weekend", "Ski week", "Grandma 90"]
_EXTS = [(".jpg", 0.55, 2_000_000, 9_000_000), (".heic", 0.12, 1_500_000, 4_000_000),
         (".png", 0.06, 200_000, 6_000_000), (".mp4", 0.1, 20_000_000, 1_800_000_000),
         (".mov", 0.05, 40_000_000, 3_200_000_000), (".raw", 0.05, 20_000_000, 45_000_000),
         (".pdf", 0.04, 60_000, 12_000_000), (".zip", 0.03, 5_000_000, 700_000_000)]


def _pick_ext(rng: random.Random) -> tuple[str, int]:
    x = rng.random()
    for ext, p, lo, hi in _EXTS:
        if x < p:
            return ext, int(lo * (hi / lo) ** rng.random())
        x -= p
    ext, _, lo, hi = _EXTS[0]
    return ext, rng.randint(lo, hi)


def photo_report(n_groups: int = 200, seed: int = 7, all_files: bool = False) -> Report:
    """A report that looks like a real home photo library with backups, phone dumps and exports."""
    rng = random.Random(seed)
    home = "/home/maria"
    roots = [f"{home}/Pictures", "/mnt/backup/2023-laptop", f"{home}/Downloads"]
    groups = []
    for i in range(n_groups):
        year = rng.choice(range(2012, 2025))
        event = rng.choice(_EVENTS)
        ext, size = _pick_ext(rng)
        stem = rng.choice([f"IMG_{rng.randint(1000, 9999)}", f"DSC{rng.randint(10000, 99999)}",
                           f"PXL_{year}0{rng.randint(1, 9)}{rng.randint(10, 28)}_{rng.randint(100000, 999999)}",
                           f"{event.split()[0].lower()}-{rng.randint(1, 300):03d}"])
        name = stem + (ext.upper() if rng.random() < 0.2 else ext)
        homes = [f"{home}/Pictures/{year}/{year}-{rng.randint(1, 12):02d} {event}/",
                 f"/mnt/backup/2023-laptop/Pictures/{year}/{year}-{rng.randint(1, 12):02d} {event}/",
                 f"{home}/Pictures/Phone dump {year}/DCIM/Camera/",
                 f"{home}/Downloads/",
                 f"/mnt/backup/2023-laptop/Desktop/to sort/{event}/",
                 f"{home}/Pictures/Exports/{event}/"]
        count = rng.choices([2, 3, 4, 5, 8, 40], [50, 25, 10, 6, 3, 1])[0]
        paths = set()
        while len(paths) < count:
            d = rng.choice(homes)
            n = name if rng.random() < 0.7 else f"{stem} ({rng.randint(1, 9)}){ext}"
            if count > 6:
                n = f"{stem}-{len(paths):02d}{ext}"
            paths.add(d + n)
        if i == 3:
            paths = {f"{home}/Downloads/<img src=x onerror=alert(1)>.jpg",
                     f"{home}/Downloads/fa\u00e7ade \u2014 caf\u00e9.jpg",
                     f"{home}/Downloads/evil\u202egpj.exe", f"{home}/Downloads/bad\\xff byte.jpg"}
            count = 4
        groups.append(Group(size, f"{rng.getrandbits(128):032x}", sorted(paths)))
    groups = sort_groups(groups)
    files_scanned = sum(g.count for g in groups) * 9 + 1234
    bytes_scanned = sum(g.size * g.count for g in groups) * 4
    errs = [(f"{home}/Pictures/.Trash-1000/files/locked {i}.jpg", "PermissionError: [Errno 13] Permission denied")
            for i in range(3)]
    rows = None
    if all_files:
        rows = [ListedFile(p, g.size, g.digest) for g in groups for p in g.paths]
        for i in range(2000):
            ext, size = _pick_ext(rng)
            rows.append(ListedFile(f"{home}/Pictures/{2012 + i % 13}/misc/file{i:05d}{ext}", size,
                                   None if rng.random() < 0.7 else f"{rng.getrandbits(128):032x}"))
        rows.sort(key=lambda r: r.path)
    return Report(roots=roots, algorithm="xxh128", finished=True,
                  summary=Summary.of(groups, files_scanned, bytes_scanned, len(errs)), groups=groups,
                  unreadable=errs, generated_at=1764000000.0,
                  database="postgresql+psycopg2://maria:***@nas.local/dupfinder", duration_seconds=754.2,
                  all_files=rows)


def big_report(n_groups: int = 100_000, per_group: int = 3, seed: int = 1, all_files: int = 0) -> Report:
    """n_groups groups of per_group paths each, ~70-character paths spread over ~20,000 directories;
    with all_files, an all-files list of that many entries (the duplicates first)."""
    rng = random.Random(seed)
    top = [f"/srv/archive/{a}" for a in ("photos", "projects", "music", "home-backups", "mail", "scans")]
    dirs = [f"{rng.choice(top)}/{rng.randint(2000, 2024)}/{rng.choice(_EVENTS)}/set-{i:05d}/"
            for i in range(20_000)]
    groups = []
    for i in range(n_groups):
        ext, size = _pick_ext(rng)
        size = max(1, size // 64)
        stem = f"IMG_{i:06d}"
        files = sorted({rng.choice(dirs) + f"{stem}{'' if k == 0 else f' ({k})'}{ext}" for k in range(per_group)})
        groups.append(Group(size, f"{rng.getrandbits(128):032x}", files))
    groups = sort_groups(groups)
    dup = sum(g.count for g in groups)
    rows = None
    if all_files:
        rows = [ListedFile(p, g.size, g.digest) for g in groups for p in g.paths][:all_files]
        for i in range(all_files - len(rows)):
            rows.append(ListedFile(f"{dirs[i % len(dirs)]}unique_{i:07d}.dat", rng.randint(0, 3 * 2**30), None))
    return Report(roots=["/srv/archive"], algorithm="xxh128", finished=True,
                  summary=Summary.of(groups, dup * 3, sum(g.size * g.count for g in groups) * 3, 0),
                  groups=groups, generated_at=time.time(), database="sqlite:///outputs/file_hashes.db",
                  duration_seconds=3600.0, all_files=rows)


def browser_times(path: Path, screenshot: str | None = None, runs: int = 3) -> list[dict]:
    """Opens path in headless Chromium runs times; returns per run the ms until the header, the first
    page of groups and the first contentful paint, plus the page's own parse/ready marks."""
    from playwright.sync_api import sync_playwright
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for run in range(runs):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                t0 = time.perf_counter()
                page.goto(path.as_uri(), wait_until="commit")
                page.wait_for_selector("#stats", state="visible")
                t_header = time.perf_counter()
                page.wait_for_selector("#groups .group", state="visible")
                t_first = time.perf_counter()
                marks = page.evaluate("""() => ({
                    fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null,
                    parsed: window.dupReport.parsedMs, ready: window.dupReport.readyMs,
                    heap: performance.memory ? performance.memory.usedJSHeapSize : null })""")
                if screenshot and run == 0:
                    Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=screenshot)
                before = page.text_content("#summary")
                t1 = time.perf_counter()
                page.fill("#f-text", "set-0001")       # a directory of big_report; matches nothing in others
                page.wait_for_function("(b) => document.getElementById('summary').textContent !== b", arg=before)
                t_filter = time.perf_counter() - t1
                t_files = None
                if page.locator("#files-table").count():
                    t1 = time.perf_counter()
                    page.click("#tab-files")
                    page.wait_for_selector("#files-body tr", state="visible")
                    t_files = (time.perf_counter() - t1) * 1000
                out.append({"header_ms": (t_header - t0) * 1000, "first_page_ms": (t_first - t0) * 1000,
                            "fcp_ms": marks["fcp"], "script_start_ms": marks["parsed"],
                            "ready_ms": marks["ready"], "filter_ms": t_filter * 1000,
                            "heap_mb": (marks["heap"] or 0) / 2**20, "files_tab_ms": t_files})
                page.close()
        finally:
            browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=100_000)
    ap.add_argument("--per-group", type=int, default=3)
    ap.add_argument("--photos", type=int, metavar="N", help="write a realistic N-group photo report instead")
    ap.add_argument("--all-files", action="store_true", help="with --photos: include the all-files table")
    ap.add_argument("--all-files-rows", type=int, default=0, metavar="N",
                    help="add an all-files list of N entries to the big report (200,000 is the most embedded)")
    ap.add_argument("--out", help="where to write the report (default: a temporary directory)")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--screenshot", help="save a screenshot of the first run here")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="report-bench-")
    out = (Path(args.out) if args.out else Path(tmp.name) / "report.html").resolve()

    t = time.perf_counter()
    if args.photos:
        report = photo_report(args.photos, all_files=args.all_files)
    else:
        report = big_report(args.groups, args.per_group, all_files=args.all_files_rows)
    t_build = time.perf_counter() - t
    n_groups = len(report.groups)
    n_paths = sum(g.count for g in report.groups)

    t = time.perf_counter()
    text = render_report(report)
    t_render = time.perf_counter() - t
    t = time.perf_counter()
    write_report(out, report)
    t_write = time.perf_counter() - t          # render + encode + write + fsync + rename
    size = out.stat().st_size
    del text

    rows = [("groups / paths", f"{n_groups:,} / {n_paths:,}"),
            ("synthetic data built", f"{t_build:.2f} s"),
            ("render_report", f"{t_render:.2f} s"),
            ("write_report (render + write)", f"{t_write:.2f} s"),
            ("file size", f"{size / 2**20:.1f} MiB"),
            ("bytes per path", f"{size / max(n_paths, 1):.1f}")]
    if not args.no_browser:
        if not (os.path.exists(CHROMIUM)):
            rows.append(("browser", "skipped: no /usr/bin/chromium"))
        else:
            runs = browser_times(out, args.screenshot, args.runs)
            med = lambda k: sorted(r[k] for r in runs)[len(runs) // 2]  # noqa: E731
            rows += [(f"browser runs (median of {len(runs)})", ""),
                     ("  header visible", f"{med('header_ms'):.0f} ms"),
                     ("  first page of groups visible", f"{med('first_page_ms'):.0f} ms"),
                     ("  first contentful paint", f"{med('fcp_ms'):.0f} ms"),
                     ("  script start / first page rendered (page clock)",
                      f"{med('script_start_ms'):.0f} / {med('ready_ms'):.0f} ms"),
                     ("  filter typed -> list updated", f"{med('filter_ms'):.0f} ms"),
                     ("  JS heap after load", f"{med('heap_mb'):.0f} MiB")]
            if runs[0]["files_tab_ms"] is not None:
                rows.append(("  all-files tab opened (first page of the table)", f"{med('files_tab_ms'):.0f} ms"))
    w = max(len(k) for k, _ in rows)
    print(f"report: {out}" + ("  (temporary, removed on exit)" if not args.out else ""))
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
