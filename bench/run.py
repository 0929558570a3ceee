#!/usr/bin/env python3
"""Benchmark dupFinder against the duplicate finders users would pick instead, and against floors.

    python bench/run.py [--corpus small,medium|all] [--runs 3] [--quick] [--corpora-dir ../corpora]
                        [--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--out bench/results/X.md]

For each corpus (built with ../shared/bench/make_corpus.py when missing, reused otherwise) it runs
every available tool once to warm the page cache, then --runs rounds in which each tool runs once
(round-robin, the order rotated every round), timing each whole child process (wall clock) and
taking its peak RSS from GNU time's %M (the child's ru_maxrss). Every run's duplicate groups are checked against
the corpus'
truth file the way check_groups.py does (by (device, inode) sets: hard-link aliases may be listed
or omitted, groups collapsing to one inode are ignored, a symlink in a group is wrong).

Tools: the peers found on PATH (jdupes, fdupes, rdfind, rmlint, duff; nothing is installed), then
dupFinder's main.py and main_mul.py when they exist, each on SQLite and on PostgreSQL (a scratch
database per round, dropped afterwards), as a first scan (fresh database) and as a rescan (the
same database, unchanged tree). Floors: a metadata-only find, reading every byte with cat, a
Python scandir+stat walk, Python start-up with SQLAlchemy, and single-core hash speed (xxh3_128,
sha256, plain read) on a scratch file in the page cache (--hash-file-mib, default 256).

Prints one markdown table per corpus and writes the report to --out.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import secrets
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CANDIDATES = [os.path.join(os.path.dirname(REPO), "shared", "bench"), os.path.join(REPO, "bench")]
PRESETS = ["small", "medium", "large", "bigfiles"]
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ truth and checking
def shared_file(name: str) -> str | None:
    for d in SHARED_CANDIDATES:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None


def _load_check_groups():
    """check_groups.inode_groups from the shared bench directory, or the same logic reimplemented."""
    path = shared_file("check_groups.py")
    if path:
        spec = importlib.util.spec_from_file_location("check_groups", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.inode_groups

    def inode_groups(groups):
        out, symlinks = set(), []
        for paths in groups:
            ids = set()
            for p in paths:
                if os.path.islink(p):
                    symlinks.append(p)
                    continue
                st = os.stat(p)
                ids.add((st.st_dev, st.st_ino))
            if len(ids) > 1:
                out.add(frozenset(ids))
        return out, symlinks
    return inode_groups


inode_groups = _load_check_groups()


def load_truth(truth_file: str, corpus_dir: str) -> set:
    with open(truth_file, encoding="utf-8") as f:
        data = json.load(f)
    old, new = data["root"].rstrip(os.sep), os.path.abspath(corpus_dir).rstrip(os.sep)
    groups = [[new + p[len(old):] if p.startswith(old) else p for p in g["files"]] for g in data["groups"]]
    truth, _ = inode_groups(groups)
    return truth


def check(truth: set, groups: list[list[str]] | None) -> tuple[bool, str]:
    if groups is None:
        return False, "no output"
    try:
        found, symlinks = inode_groups(groups)
    except OSError as e:
        return False, f"unparsable path in output ({e.__class__.__name__}: {e.filename!r})"
    missing, extra = truth - found, found - truth
    ok = not missing and not extra and not symlinks
    detail = f"{len(found)} groups"
    if not ok:
        detail += f", missing {len(missing)}, extra {len(extra)}, symlinks listed {len(symlinks)}"
    return ok, detail


# ---------------------------------------------------------------------------------- output parsers
def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def parse_blank_separated(ctx: RunCtx) -> list[list[str]]:
    """jdupes / fdupes: one path per line, groups separated by a blank line."""
    groups, cur = [], []
    for line in _read(ctx.stdout).split("\n"):
        if line:
            cur.append(line)
        elif cur:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def parse_rdfind(ctx: RunCtx) -> list[list[str]]:
    """results.txt: duptype id depth size device inode priority name; the first of a group has id N,
    the others -N."""
    groups: dict[int, list[str]] = {}
    for line in _read(ctx.files["results"]).split("\n"):
        if not line or line.startswith("#"):
            continue
        parts = line.split(" ", 7)
        groups.setdefault(abs(int(parts[1])), []).append(parts[7])
    return list(groups.values())


def parse_rmlint(ctx: RunCtx) -> list[list[str]]:
    """json: [header, entries..., footer]; duplicate_file entries grouped by checksum. Sets made only of
    hard links to one inode come without a checksum: keyed by (disk_id, inode) they collapse, as they should."""
    with open(ctx.files["json"], encoding="utf-8", errors="surrogateescape") as f:
        data = json.load(f)
    groups: dict[Any, list[str]] = {}
    for e in data:
        if e.get("type") != "duplicate_file":
            continue
        key = e.get("checksum") or ("inode", e.get("disk_id"), e.get("inode"))
        groups.setdefault(key, []).append(e["path"])
    return list(groups.values())


def parse_duff(ctx: RunCtx) -> list[list[str]]:
    """-0 -f %n: a NUL-terminated header holding the cluster's file count, then that many NUL-terminated paths."""
    with open(ctx.stdout, "rb") as f:
        toks = f.read().split(b"\0")
    groups, i = [], 0
    while i < len(toks) and toks[i]:
        n = int(toks[i])
        groups.append([t.decode("utf-8", "surrogateescape") for t in toks[i + 1:i + 1 + n]])
        i += 1 + n
    return groups


def parse_dupfinder(ctx: RunCtx) -> list[list[str]]:
    with open(ctx.files["json"], encoding="utf-8", errors="surrogateescape") as f:
        return [g["files"] for g in json.load(f)["groups"]]


# ------------------------------------------------------------------------------------------ tools
@dataclass
class RunCtx:
    workdir: str
    stdout: str
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Tool:
    name: str
    kind: str                                    # peer | dupfinder | floor
    argv: Callable[[str, RunCtx], list[str]]     # (corpus dir, ctx) -> argv
    parse: Callable[[RunCtx], list[list[str]]] | None = None
    cmd: str = ""                                # shown in the report
    version: str = ""
    cwd: str | None = None
    # dupFinder: which database this run uses; set per round by the harness
    script: str = ""
    backend: str = ""
    rescan: bool = False


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0].strip() if text else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def peer_tools() -> tuple[list[Tool], list[str]]:
    tools, missing = [], []

    def add(name, argv, parse, cmd, version_argv):
        if shutil.which(name):
            tools.append(Tool(name, "peer", argv, parse, cmd, tool_version(version_argv)))
        else:
            missing.append(name)

    add("jdupes", lambda d, c: ["jdupes", "-r", "-q", d], parse_blank_separated,
        "jdupes -r -q DIR", ["jdupes", "-v"])
    # -n (--noempty): fdupes counts zero-length files as one duplicate group unless told otherwise;
    # jdupes, rdfind, rmlint, dupFinder and the truth leave them out. peers.md measured with -n too.
    add("fdupes", lambda d, c: ["fdupes", "-r", "-q", "-n", d], parse_blank_separated,
        "fdupes -r -q -n DIR", ["fdupes", "-v"])

    def rdfind_argv(d, c):
        c.files["results"] = os.path.join(c.workdir, "results.txt")
        return ["rdfind", "-outputname", c.files["results"], d]
    add("rdfind", rdfind_argv, parse_rdfind, "rdfind -outputname OUT DIR", ["rdfind", "-v"])

    def rmlint_argv(d, c):
        c.files["json"] = os.path.join(c.workdir, "rmlint.json")
        return ["rmlint", "-T", "df", "-o", f"json:{c.files['json']}", d]
    add("rmlint", rmlint_argv, parse_rmlint, "rmlint -T df -o json:OUT DIR", ["rmlint", "--version"])
    # -z: like fdupes, duff reports empty files as a cluster by default. -0 -f %n: parseable output.
    add("duff", lambda d, c: ["duff", "-r", "-q", "-z", "-0", "-f", "%n", d], parse_duff,
        "duff -r -q -z -0 -f %n DIR", ["duff", "-v"])
    return tools, missing


def dupfinder_tools(backends: list[str]) -> tuple[list[Tool], list[str]]:
    tools, notes = [], []
    for script in ("main.py", "main_mul.py"):
        if not os.path.isfile(os.path.join(REPO, script)):
            notes.append(f"{script} not found in {REPO}: its rows are left out.")
            continue
        for backend in backends:
            for rescan in (False, True):
                name = f"dupFinder {script} {backend} {'rescan' if rescan else 'first scan'}"

                def argv(d, c, script=script):
                    c.files["json"] = os.path.join(c.workdir, "groups.json")
                    return [sys.executable, os.path.join(REPO, script), d, "--db-url", c.files["db_url"],
                            "--skip-html", "--json", c.files["json"], "-q"]
                tools.append(Tool(name, "dupfinder", argv, parse_dupfinder,
                                  f"python {script} DIR --db-url {'sqlite:///TMP/x.db' if backend == 'sqlite' else 'postgresql://…/SCRATCH'}"
                                  f" --skip-html --json OUT -q" + (" (again, same database)" if rescan else ""),
                                  cwd=REPO, script=script, backend=backend, rescan=rescan))
    return tools, notes


READ_ALL = 'find "$1" -type f -print0 | xargs -0 cat > /dev/null'
PY_WALK = r"""
import os, sys
def walk(d):
    n = 0
    with os.scandir(d) as it:
        for e in it:
            if e.is_dir(follow_symlinks=False):
                n += walk(e.path)
            elif e.is_file(follow_symlinks=False):
                e.stat(follow_symlinks=False); n += 1
    return n
walk(sys.argv[1])
"""


READ_ALL_8 = 'find "$1" -type f -print0 | xargs -0 -P 8 -n 64 cat >/dev/null'


def floor_tools() -> list[Tool]:
    return [
        Tool("floor: metadata walk (find -printf)", "floor",
             lambda d, c: ["find", d, "-type", "f", "-printf", "%s\n"],
             cmd="find DIR -type f -printf '%s\\n' >/dev/null"),
        Tool("floor: Python os.scandir walk + stat", "floor",
             lambda d, c: [sys.executable, "-c", PY_WALK, d], cmd="python: recursive os.scandir, stat every file"),
        Tool("floor: read every byte (find, xargs cat)", "floor",
             lambda d, c: ["sh", "-c", READ_ALL, "sh", d], cmd="find DIR -type f -print0 | xargs -0 cat >/dev/null"),
        Tool("floor: read every byte, 8 files at once", "floor",
             lambda d, c: ["sh", "-c", READ_ALL_8, "sh", d],
             cmd="find DIR -type f -print0 | xargs -0 -P 8 -n 64 cat >/dev/null"),
        Tool("floor: start Python, import SQLAlchemy ORM + tqdm", "floor",
             lambda d, c: [sys.executable, "-c", "import sqlalchemy.orm, tqdm"],
             cmd="python -c 'import sqlalchemy.orm, tqdm'"),
    ]


# ------------------------------------------------------------------------------------ databases
class Databases:
    """Scratch databases for dupFinder runs: a SQLite file or a PostgreSQL database per (script, backend,
    round), shared by that round's first scan and rescan, dropped when the round ends."""

    def __init__(self, pg_url: str | None, tmp: str):
        self.pg_url, self.tmp = pg_url, tmp
        self.live: dict[tuple[str, str], str] = {}
        self.pg_names: list[str] = []

    def url(self, script: str, backend: str, fresh: bool) -> str:
        key = (script, backend)
        if fresh or key not in self.live:
            self.drop(key)
            if backend == "sqlite":
                d = tempfile.mkdtemp(prefix="db_", dir=self.tmp)
                self.live[key] = f"sqlite:///{d}/x.db"
            else:
                name = f"dupfinder_bench_{secrets.token_hex(4)}"
                self._pg(f'CREATE DATABASE "{name}"')
                self.pg_names.append(name)
                self.live[key] = self._pg_db_url(name)
        return self.live[key]

    def _pg_db_url(self, name: str) -> str:
        from sqlalchemy.engine import make_url
        return make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)

    def _pg(self, sql: str) -> None:
        import psycopg2
        from sqlalchemy.engine import make_url
        u = make_url(self.pg_url)
        conn = psycopg2.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                                dbname=u.database or "postgres", connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def drop(self, key: tuple[str, str]) -> None:
        url = self.live.pop(key, None)
        if not url:
            return
        if url.startswith("sqlite:///"):
            shutil.rmtree(os.path.dirname(url[len("sqlite:///"):]), ignore_errors=True)
        else:
            name = url.rsplit("/", 1)[1]
            self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.pg_names.remove(name)

    def drop_all(self) -> None:
        for key in list(self.live):
            try:
                self.drop(key)
            except Exception as e:  # keep going: report it, never leave the run half-cleaned silently
                log(f"warning: could not drop {self.live.get(key)}: {e}")


def pg_reachable(pg_url: str) -> str | None:
    try:
        import psycopg2
        from sqlalchemy.engine import make_url
        u = make_url(pg_url)
        psycopg2.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                         dbname=u.database or "postgres", connect_timeout=5).close()
        return None
    except Exception as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# ----------------------------------------------------------------------------------- measuring
@dataclass
class Result:
    wall: float
    maxrss_kib: int | None
    rc: int
    ok: bool | None
    detail: str


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_child(argv: list[str], stdout: str, cwd: str | None, timeout: float) -> tuple[float, int | None, int, str]:
    """Runs argv to completion; returns (wall seconds, peak RSS KiB or None, exit code, stderr tail).

    Peak RSS comes from GNU time's %M (its child's ru_maxrss), not from our own wait4(): Linux carries
    the high-water RSS of the process that forks into the child's ru_maxrss across exec(), so every
    child of this (large) Python process would report at least this process' RSS. GNU time is a few
    hundred KiB, so the figure it reports is the tool's own. Without /usr/bin/time RSS is n/a.
    """
    errpath, rsspath = stdout + ".err", stdout + ".rss"
    env = {k: v for k, v in os.environ.items() if k != "DUPFINDER_DB_URL"}
    if GNU_TIME:
        argv = [GNU_TIME, "-f", "%M", "-o", rsspath, *argv]
    with open(stdout, "wb") as out, open(errpath, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                             start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, _ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
    p.returncode = rc = os.waitstatus_to_exitcode(status)
    with open(errpath, "rb") as f:
        tail = f.read()[-400:].decode("utf-8", "replace").strip().replace("\n", " | ")
    rss = None
    if GNU_TIME:
        try:
            with open(rsspath, encoding="utf-8") as f:
                rss = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            rss = None
    return wall, rss, rc, tail


DROP_CACHES = "/proc/sys/vm/drop_caches"


def drop_caches() -> None:
    """Empties the page cache (and dentries and inodes), after writing dirty pages out: a cold start."""
    os.sync()
    with open(DROP_CACHES, "w") as f:
        f.write("3\n")


def can_drop_caches() -> str | None:
    """None when this process may drop the page cache, else why not."""
    if os.geteuid() != 0:
        return f"dropping the page cache needs root (writing 3 to {DROP_CACHES}); run as root or without --cold"
    if not os.access(DROP_CACHES, os.W_OK):
        return f"{DROP_CACHES} is not writable here (a container without that privilege?)"
    return None


def run_tool(tool: Tool, corpus_dir: str, truth: set, tmp: str, dbs: Databases, timeout: float,
             cold: bool = False) -> Result:
    ctx = RunCtx(workdir=tempfile.mkdtemp(prefix="run_", dir=tmp), stdout="")
    ctx.stdout = os.path.join(ctx.workdir, "stdout")
    try:
        if tool.kind == "dupfinder":
            ctx.files["db_url"] = dbs.url(tool.script, tool.backend, fresh=not tool.rescan)
        argv = tool.argv(corpus_dir, ctx)
        if cold:
            drop_caches()       # the catalog and Python's own files go cold too, as after a reboot
        wall, rss, rc, err = run_child(argv, ctx.stdout, tool.cwd or ctx.workdir, timeout)
        if rc != 0:
            return Result(wall, rss, rc, False if tool.parse else None, f"exit {rc}: {err}")
        if tool.parse is None:
            return Result(wall, rss, rc, None, "")
        try:
            groups = tool.parse(ctx)
        except (OSError, ValueError, KeyError, IndexError) as e:
            return Result(wall, rss, rc, False, f"output not parsed: {type(e).__name__}: {e}")
        ok, detail = check(truth, groups)
        return Result(wall, rss, rc, ok, detail)
    finally:
        shutil.rmtree(ctx.workdir, ignore_errors=True)


def hash_floor(path: str, make: Callable[[], Any] | None, min_bytes: int, min_secs: float) -> float:
    """MiB/s of hashing path (in the page cache) with 1 MiB readinto() calls, one core."""
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    total = 0
    t0 = time.perf_counter()
    while True:
        h = make() if make else None
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                if h is not None:
                    h.update(mv[:n])
                total += n
        if h is not None:
            h.digest()
        elapsed = time.perf_counter() - t0
        if total >= min_bytes and elapsed >= min_secs:
            return total / elapsed / 2**20


def scratch_file(tmp: str, mib: int) -> str:
    """A file of mib MiB of random bytes in tmp (written once, so it sits in the page cache)."""
    path = os.path.join(tmp, f"hash-floor-{mib}MiB.bin")
    if not os.path.exists(path):
        block = os.urandom(2**20)
        with open(path, "wb") as f:
            for i in range(mib):
                f.write(block[i % 997:] + block[:i % 997])
    return path


def hash_makers() -> list[tuple[str, Callable[[], Any] | None]]:
    out: list[tuple[str, Callable[[], Any] | None]] = []
    try:
        import xxhash
        out.append(("xxhash xxh3_128", xxhash.xxh3_128))
    except ImportError:
        pass
    out.append(("hashlib sha256", hashlib.sha256))
    out.append(("plain read, no hash", None))
    return out


# ------------------------------------------------------------------------------------- corpora
def ensure_corpus(preset: str, corpora_dir: str) -> tuple[str, str]:
    d = os.path.join(corpora_dir, preset)
    truth = d + ".truth.json"
    if os.path.isfile(truth) and os.path.isdir(d):
        return d, truth
    maker = shared_file("make_corpus.py")
    if not maker:
        sys.exit(f"bench: {truth} missing and make_corpus.py not found in {SHARED_CANDIDATES}")
    if os.path.isdir(d) and os.listdir(d):
        sys.exit(f"bench: {d} exists but {truth} does not; remove {d} to rebuild it")
    log(f"building corpus {preset} in {d} ...")
    subprocess.run([sys.executable, maker, d, "--preset", preset], check=True)
    return d, truth


def corpus_stats(d: str) -> tuple[int, int]:
    """(regular files, bytes counting each inode once)."""
    files, seen, total = 0, set(), 0
    for root, _dirs, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            files += 1
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return files, total


# -------------------------------------------------------------------------------------- report
def fmt_s(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def bench_corpus(preset: str, args, peers: list[Tool], dupf: list[Tool], floors: list[Tool],
                 dbs: Databases, tmp: str) -> str:
    corpus_dir, truth_file = ensure_corpus(preset, args.corpora_dir)
    truth = load_truth(truth_file, corpus_dir)
    files, nbytes = corpus_stats(corpus_dir)
    log(f"== {preset}: {files:,} files, {nbytes / 1e6:,.0f} MB, {len(truth):,} true groups")
    load_start = os.getloadavg()

    # Units keep a dupFinder configuration's first scan and rescan together (the rescan reuses that database).
    units: list[list[Tool]] = [[t] for t in peers]
    by_cfg: dict[tuple[str, str], list[Tool]] = {}
    for t in dupf:
        by_cfg.setdefault((t.script, t.backend), []).append(t)
    units += list(by_cfg.values())
    units += [[t] for t in floors]
    tools = [t for u in units for t in u]
    results: dict[str, list[Result]] = {t.name: [] for t in tools}
    warm: dict[str, Result] = {}

    if args.only:
        units = [[t for t in u if re.search(args.only, t.name)] for u in units]
        units = [u for u in units if u]
    tools = [t for u in units for t in u]
    results = {t.name: [] for t in tools}
    for rnd in range(args.runs + 1):
        label = "warm-up" if rnd == 0 else f"run {rnd}/{args.runs}"
        order = units[rnd % len(units):] + units[:rnd % len(units)] if rnd else units
        for unit in order:
            for t in unit:
                r = run_tool(t, corpus_dir, truth, tmp, dbs, args.timeout, cold=args.cold)
                (results[t.name].append(r) if rnd else warm.__setitem__(t.name, r))
                flag = "" if r.ok is None else (" ok" if r.ok else f" WRONG ({r.detail})")
                if r.rc:
                    flag = f" FAILED ({r.detail})"
                rss = f"{r.maxrss_kib / 1024:7.1f} MiB" if r.maxrss_kib is not None else "    n/a MiB"
                log(f"  [{label}] {t.name:55} {r.wall:7.2f} s {rss}{flag}")
        dbs.drop_all()

    # Hash floors: in this process, on a scratch file bigger than any CPU cache, in the page cache.
    hashes: list[tuple[str, float]] = []
    hash_file = scratch_file(tmp, args.hash_file_mib)
    for name, make in hash_makers():
        speeds = [hash_floor(hash_file, make, args.hash_file_mib * 2**20, 0.3) for _ in range(max(1, args.runs))]
        hashes.append((name, statistics.median(speeds)))

    def med(name):
        ok_runs = [r.wall for r in results.get(name, ()) if r.rc == 0]
        return statistics.median(ok_runs) if ok_runs else None

    peer_meds = [(med(t.name), t.name) for t in peers if med(t.name) is not None]
    fastest = min(peer_meds) if peer_meds else None

    def row(t: Tool) -> str:
        rs = results[t.name]
        everything = [warm[t.name], *rs]
        m = med(t.name)
        failed = [r for r in everything if r.rc != 0]
        fail_note = ""
        if failed:
            which = "warm-up" if failed[0] is everything[0] else "a timed run"
            fail_note = (f"{len(failed)} of {len(everything)} runs failed (first: {which}, "
                         f"{failed[0].detail[:110].rstrip()}…)")
        if m is None:
            return f"| {t.name} | failed | | | | {fail_note or 'no runs'} |"
        walls = [r.wall for r in rs if r.rc == 0]
        rss_runs = [r.maxrss_kib for r in rs if r.maxrss_kib is not None and r.rc == 0]
        rss = f"{max(rss_runs) / 1024:.0f}" if rss_runs else "n/a"
        ratio = f"{m / fastest[0]:.2f}×" if fastest else "n/a"
        if t.parse is None:
            correct = "n/a"
        else:
            finished = [r for r in everything if r.rc == 0]    # crashes are reported apart, below
            bad = [r for r in finished if not r.ok]
            correct = f"yes ({finished[0].detail})" if not bad else f"**no** ({bad[0].detail[:160]})"
        if fail_note:
            correct += f"; {fail_note}"
        return f"| {t.name} | {fmt_s(m)} | {fmt_s(min(walls))}–{fmt_s(max(walls))} | {rss} | {ratio} | {correct} |"

    head = "| tool | median wall (s) | min–max (s) | peak RSS (MiB) | × fastest peer | groups correct |"
    sep = "|---|---:|---:|---:|---:|---|"
    out = [f"## {preset}: {files:,} regular files, {nbytes / 1e6:,.0f} MB (each inode once), "
           f"{len(truth):,} true groups",
           "",
           f"{args.runs} run(s) after one warm-up, round-robin, "
           f"{'page cache dropped before every run (cold)' if args.cold else 'page cache warm'}; fastest peer: "
           f"{fastest[1] + f' ({fastest[0]:.2f} s)' if fastest else 'none'}. "
           f"Load average (1, 5, 15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}, "
           f"at end {', '.join(f'{x:.2f}' for x in os.getloadavg())} (other work shares this machine).",
           "", head, sep]
    out += [row(t) for t in peers + dupf if t.name in results]
    out += ["", "Floors:", "", head, sep]
    out += [row(t) for t in floors if t.name in results]
    if hashes:
        out += ["", f"Single-core hash speed, Python, 1 MiB readinto() of a {args.hash_file_mib} MiB scratch "
                    f"file in the page cache, median of {max(1, args.runs)}:", "",
                "| hash | MiB/s | the corpus' bytes at this speed (s) |", "|---|---:|---:|"]
        out += [f"| {n} | {v:,.0f} | {nbytes / 2**20 / v:.2f} |" for n, v in hashes]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="small,medium", help="comma-separated presets, or 'all' (default small,medium)")
    ap.add_argument("--runs", type=int, default=3, help="timed rounds after the warm-up (default 3)")
    ap.add_argument("--quick", action="store_true", help="small corpus, one timed round (under two minutes)")
    ap.add_argument("--corpora-dir", default=os.path.join(os.path.dirname(REPO), "corpora"),
                    help="where corpora are built and reused (default: ../corpora beside the checkout)")
    ap.add_argument("--pg-url", default=PG_DEFAULT,
                    help="maintenance database for scratch databases; 'none' to skip PG")
    ap.add_argument("--no-dupfinder", action="store_true", help="peers and floors only")
    ap.add_argument("--hash-file-mib", type=int, default=256, help="size of the hash-floor scratch file (MiB)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed")
    ap.add_argument("--out", help="markdown report (default bench/results/bench-DATE.md)")
    ap.add_argument("--cold", action="store_true",
                    help="drop the page cache before every run (sync; echo 3 > /proc/sys/vm/drop_caches; root)")
    ap.add_argument("--only", metavar="REGEX", help="run only the tools whose name matches (e.g. 'jdupes|main_mul')")
    args = ap.parse_args()
    if args.cold and (why := can_drop_caches()):
        ap.error(f"--cold: {why}")
    if args.quick:
        args.corpus, args.runs = "small", 1
    presets = PRESETS if args.corpus == "all" else [c.strip() for c in args.corpus.split(",") if c.strip()]
    for p in presets:
        if p not in PRESETS:
            ap.error(f"unknown corpus {p!r}; choose from {', '.join(PRESETS)} or all")
    out = args.out or os.path.join(REPO, "bench", "results", time.strftime("bench-%Y%m%d-%H%M%S.md"))

    peers, missing = peer_tools()
    notes = [f"Peers not on PATH: {', '.join(missing)}."] if missing else []
    backends = ["sqlite"]
    pg_url = None if args.pg_url.lower() == "none" else args.pg_url
    if pg_url:
        why = pg_reachable(pg_url)
        if why:
            notes.append(f"PostgreSQL rows skipped: {pg_url} unreachable ({why}).")
            pg_url = None
        else:
            backends.append("postgresql")
    dupf: list[Tool] = []
    if not args.no_dupfinder:
        dupf, more = dupfinder_tools(backends)
        notes += more
    for n in notes:
        log(f"note: {n}")

    tmp = tempfile.mkdtemp(prefix="dupfinder_bench_")
    dbs = Databases(pg_url, tmp)
    sections = []
    try:
        for p in presets:
            sections.append(bench_corpus(p, args, peers, dupf, floor_tools(), dbs, tmp))
    finally:
        dbs.drop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    versions = "; ".join(f"{t.name}: {t.version}" for t in peers)
    commands = [f"- {t.name}: `{t.cmd}`" for t in peers + dupf + floor_tools()]
    report = "\n".join([
        f"# dupFinder benchmark, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"{platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}. "
        "Wall = whole child process; peak RSS = the child's ru_maxrss as GNU time reports it, max over "
        "the timed runs (for a process with children, such as main_mul.py or the cat pipeline, the "
        "largest single process, not their sum). "
        "× fastest peer = median / the fastest peer's median. Groups checked against the truth "
        "file by (device, inode) sets on every run, warm-up included.",
        "",
        *(f"Note: {n}" for n in notes),
        "",
        *sections,
        "## Commands and versions",
        "",
        *commands,
        "",
        f"Versions: {versions}.",
        "",
    ])
    print(report)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write(report)
    log(f"report written to {out}")


if __name__ == "__main__":
    main()
