#!/usr/bin/env python3
"""Benchmark acting on duplicates (issue 11): planning (the dry run) and a hardlink apply of every group,
against reading the compared bytes once with cat.

    python bench/apply.py [--corpus ../corpora/medium] [--scratch DIR] [--runs 2] [--out bench/results/apply.md]

Each run copies the corpus to a scratch folder (the corpus itself is never changed), finds its groups with
main.py (--json, SQLite in the scratch folder), and then, page cache warm:
- cat: `xargs -0 cat` of every file the plan compares (kept and redundant), the floor for reading those
  bytes once, best of 3 after a warm-up;
- plan: make_plan (which lstats each redundant file for its link count) and the dry-run text;
- plan JSON: write_plan to a file;
- apply: apply_plan of the hardlink plan with the journal in the scan's SQLite catalog (every check, every
  byte compared, two journal commits a batch), then the catalog's rows brought up to date, as --apply does;
- links only (floor): on a fresh copy, os.link to a temporary and os.replace over each redundant file, no
  check and no read: what the file system itself takes to link, rename and free the replaced files;
- jdupes -r -L -q (peer, when installed): on a fresh copy, its whole run (its own scan, compare and links),
  beside dupFinder's scan + apply.
Targets (issue 11): apply at most 1.5x cat; the dry run well under 1 s. The machine may be shared: the load
average is reported at the start and end.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from utilities.catalog import Catalog  # noqa: E402
from utilities.dedupe.apply import apply_plan  # noqa: E402
from utilities.dedupe.catalog_journal import CatalogJournal, update_catalog  # noqa: E402
from utilities.dedupe.found import DupeFile, DupeGroup, Findings  # noqa: E402
from utilities.dedupe.plan import make_plan  # noqa: E402
from utilities.dedupe.planfile import write_plan  # noqa: E402
from utilities.dedupe.render import dry_run_lines  # noqa: E402
from utilities.records import Stat  # noqa: E402


def scan(tree: str, work: str) -> Findings:
    """Returns the groups main.py finds under tree (JSON export: one path per inode, its other names apart)."""
    out = os.path.join(work, "groups.json")
    subprocess.run([sys.executable, os.path.join(REPO, "main.py"), tree, "--db-url",
                    f"sqlite:///{os.path.join(work, 'scan.db')}", "--host", HOST, "--json", out, "--skip-html", "-q"],
                   check=True)
    with open(out, encoding="utf-8") as f:
        doc = json.load(f)
    groups = []
    for g in doc["groups"]:
        links = g.get("hard_links", {})
        files = tuple(DupeFile(p, Stat.of(os.lstat(p)), 0, tuple(links.get(p, ()))) for p in g["files"])
        groups.append(DupeGroup(g["size"], g["hash"], files))
    return Findings((os.path.abspath(tree),), doc["algorithm"], tuple(groups))


HOST = "bench"


def apply_as_the_command_does(plan, work: str):
    """apply_plan with the journal in the scan's catalog, then the catalog's rows updated (act_command)."""
    catalog = Catalog(f"sqlite:///{os.path.join(work, 'scan.db')}", host=HOST)
    try:
        journal = CatalogJournal(catalog)
        result = apply_plan(plan, journal)
        journal.flush()
        update_catalog(catalog, result.stats)
        return result
    finally:
        catalog.close()


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def cat_seconds(paths: list[str], rounds: int = 3) -> float:
    listing = b"\0".join(os.fsencode(p) for p in paths)
    best = float("inf")
    for i in range(rounds + 1):                 # the first round warms the cache and is not counted
        t = time.perf_counter()
        subprocess.run(["xargs", "-0", "cat", "--"], input=listing, stdout=subprocess.DEVNULL, check=True)
        if i:
            best = min(best, time.perf_counter() - t)
    return best


def fresh_copy(corpus: str, tree: str) -> None:
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["cp", "-a", corpus, tree], check=True)
    os.sync()            # the copy's writeback must not land in the middle of a measurement


def links_only(corpus: str, scratch: str) -> float:
    """Seconds to link and rename over every redundant file of a fresh copy, without checks or reads."""
    tree = os.path.join(scratch, "tree")
    fresh_copy(corpus, tree)
    plan = make_plan(scan(tree, scratch), "hardlink")
    pairs = [(g.kept[0], op.path) for g in plan.groups for op in g.ops]
    t = time.perf_counter()
    for kept, victim in pairs:
        tmp = os.path.join(os.path.dirname(victim), ".bench-tmp")
        os.link(kept, tmp)
        os.replace(tmp, victim)
    return time.perf_counter() - t


def jdupes_seconds(corpus: str, scratch: str) -> float | None:
    if shutil.which("jdupes") is None:
        return None
    tree = os.path.join(scratch, "tree")
    fresh_copy(corpus, tree)
    t = time.perf_counter()
    subprocess.run(["jdupes", "-r", "-L", "-q", tree], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def one_run(corpus: str, scratch: str) -> dict:
    tree = os.path.join(scratch, "tree")
    fresh_copy(corpus, tree)
    for name in ("scan.db", "scan.db-wal", "scan.db-shm"):
        if os.path.exists(os.path.join(scratch, name)):
            os.unlink(os.path.join(scratch, name))
    scan_s, findings = timed(scan, tree, scratch)
    plan_s, plan = timed(make_plan, findings, "hardlink")
    text = io.StringIO()
    render_s, _ = timed(lambda: text.writelines(line + "\n" for line in dry_run_lines(plan)))
    json_s, _ = timed(write_plan, os.path.join(scratch, "plan.json"), plan)
    compared = sorted({p for g in plan.groups if g.ops for p in (g.kept[0], *(op.path for op in g.ops))})
    compared_bytes = sum(g.size * (1 + len(g.ops)) for g in plan.groups if g.ops)
    cat_s = cat_seconds(compared)
    apply_s, result = timed(apply_as_the_command_does, plan, scratch)
    assert result.count("failed") == 0, [r.reason for r in result.results if r.outcome == "failed"][:5]
    return {"scan_s": scan_s, "links_only_s": links_only(corpus, scratch), "jdupes_s": jdupes_seconds(corpus, scratch),
            "groups": len(plan.groups), "operations": plan.operations, "plan_bytes": plan.bytes_to_free,
            "compared_files": len(compared), "compared_bytes": compared_bytes, "cat_s": cat_s,
            "plan_s": plan_s, "render_s": render_s, "json_s": json_s, "apply_s": apply_s,
            "done": result.count("done"), "skipped": result.count("skipped"), "freed": result.bytes_freed,
            "verified": result.bytes_verified}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(REPO), "corpora", "medium"))
    ap.add_argument("--scratch", default=None, help="scratch folder (default: a temporary one beside the repo)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    scratch = args.scratch or tempfile.mkdtemp(prefix="dupfinder-bench-apply-", dir=os.path.dirname(REPO))
    os.makedirs(scratch, exist_ok=True)
    load0 = os.getloadavg()
    runs = []
    try:
        for i in range(args.runs):
            r = one_run(os.path.abspath(args.corpus), scratch)
            runs.append(r)
            print(f"run {i + 1}: {json.dumps(r)}", file=sys.stderr)
    finally:
        shutil.rmtree(os.path.join(scratch, "tree"), ignore_errors=True)   # the copies are big
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)
    load1 = os.getloadavg()
    best = min(runs, key=lambda r: r["apply_s"])
    cat = min(r["cat_s"] for r in runs)
    lines = [
        f"# Acting on duplicates: {args.corpus}",
        "",
        f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
        f"{load0[0]:.2f} at the start, {load1[0]:.2f} at the end; page cache warm; best of {args.runs} runs.",
        "",
        f"{best['groups']:,} groups, {best['operations']:,} hardlink operations, {best['plan_bytes'] / 2**20:,.1f} MiB "
        f"to free; {best['compared_files']:,} files and {best['compared_bytes'] / 2**20:,.1f} MiB compared.",
        "",
        "| step | seconds | ratio to cat |",
        "|---|---:|---:|",
        f"| cat of the compared files (floor) | {cat:.2f} | 1.00 |",
        f"| hardlink apply (checks, byte comparison, links, journal, catalog rows) | {best['apply_s']:.2f} | "
        f"{best['apply_s'] / cat:.2f} |",
        f"| links only, no checks (file system floor) | {min(r['links_only_s'] for r in runs):.2f} | "
        f"{min(r['links_only_s'] for r in runs) / cat:.2f} |",
        f"| cat + links only | {cat + min(r['links_only_s'] for r in runs):.2f} | "
        f"{(cat + min(r['links_only_s'] for r in runs)) / cat:.2f} |",
        f"| dry run: make_plan | {min(r['plan_s'] for r in runs):.3f} | |",
        f"| dry run: text of {best['operations']:,} lines | {min(r['render_s'] for r in runs):.3f} | |",
        f"| plan JSON written | {min(r['json_s'] for r in runs):.3f} | |",
        f"| dupFinder scan (main.py, fresh SQLite) + hardlink apply | {best['scan_s'] + best['apply_s']:.2f} | |",
        *([f"| jdupes -r -L -q (its scan, compare and links) | {min(r['jdupes_s'] for r in runs):.2f} | |"]
          if runs[0]["jdupes_s"] is not None else []),
        "",
        f"Apply: {best['done']:,} done, {best['skipped']:,} skipped, {best['freed'] / 2**20:,.1f} MiB freed, "
        f"{best['verified'] / 2**20:,.1f} MiB read to compare.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
