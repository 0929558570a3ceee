"""Issue 6, hostile and odd input: files that change under the scanner, special files, loops, odd and long
names, huge and deep trees, sparse files beyond 4 GiB, bad command lines and configs, and names or URLs
that try to get into the report, the CSV or the output."""
from __future__ import annotations

import csv
import html.parser
import json
import os
import random
import shutil
import socket
import string
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import main
import main_mul
from conftest import as_report
from _trees import (Sabotage, age, assert_clean_failure, blob, catalog_rows, groups, oracle, read_json,
                    run_cli, scans, write)
from utilities.hashing import PARTIAL_BLOCK
from utilities.paths import db_path, display_path

ENTRIES = pytest.mark.parametrize("entry", [main.main, main_mul.main], ids=["main", "main_mul"])


def scan(entry, roots, url, tmp_path, *extra, code: int = 0) -> dict:
    """Runs entry in this process with --json; returns the report (asserting the exit code)."""
    out = tmp_path / f"out-{time.monotonic_ns()}.json"
    args = [os.fspath(r) for r in roots] + ["--db-url", url, "--json", str(out), "--skip-html", "-q", *extra]
    if entry is main_mul.main:
        args += ["-p", "2", "-b", "3"]
    rc = entry(args)
    assert rc == code
    return read_json(out) if code == 0 else {}


def sqlite_url(tmp_path: Path, name: str = "catalog.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def stored(url: str, path: Path | str) -> tuple | None:
    """The catalog row of path (see _trees.ROW_COLUMNS), None if there is none."""
    return catalog_rows(url).get(db_path(os.fspath(path)))


HASH = 10   # index of hash_value in _trees.ROW_COLUMNS
BIG = 2 * PARTIAL_BLOCK + 5000   # read in two stages: head and tail, then the whole


# ------------------------------------------------------------------------ files that change under us
@pytest.fixture
def trio(tmp_path: Path) -> Path:
    """small/ and big/ each hold three identical files (a, b, c); big ones need a full hash."""
    root = tmp_path / "trio"
    for name in "abc":
        write(root / "small" / f"{name}.bin", blob(1, 1000))        # partial hash = full hash
        write(root / "big" / f"{name}.bin", blob(2, BIG))           # partial, then full hash
    write(root / "other" / "x.bin", blob(3, 777))
    write(root / "other" / "y.bin", blob(3, 777))
    age(root)
    return root


def _expect_without(root: Path, victim: Path, report: dict) -> None:
    """victim is in no group and counted once in errors; the other files group as before."""
    victim_dir = victim.parent
    survivors = sorted(str(p) for p in victim_dir.iterdir() if p != victim and p.is_file())
    assert survivors in groups(report)
    assert not any(str(victim) in g for g in groups(report))
    assert report["summary"]["errors"] == 1
    assert [str(root / "other" / "x.bin"), str(root / "other" / "y.bin")] in groups(report)


@ENTRIES
@pytest.mark.parametrize("stage", ["partial", "full"])
def test_file_vanishes_between_walk_and_read(entry, stage, trio, tmp_path, monkeypatch):
    victim = trio / ("small" if stage == "partial" else "big") / "a.bin"
    sab = Sabotage(monkeypatch, victim, "open", 1 if stage == "partial" else 2, victim.unlink, tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(entry, [trio], url, tmp_path)
    assert sab.fired
    _expect_without(trio, victim, report)
    row = stored(url, victim)
    assert row is None or row[HASH] is None
    monkeypatch.undo()
    again = scan(entry, [trio], url, tmp_path)          # the rescan forgets it
    assert stored(url, victim) is None
    assert groups(again) == oracle([trio])


@ENTRIES
def test_file_replaced_by_a_directory(entry, trio, tmp_path, monkeypatch):
    victim = trio / "big" / "a.bin"

    def swap():
        victim.unlink()
        victim.mkdir()
        write(victim / "inner.bin", blob(2, BIG))       # the same content as b and c, one level down
    sab = Sabotage(monkeypatch, victim, "open", 2, swap, tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(entry, [trio], url, tmp_path)
    assert sab.fired
    _expect_without(trio, victim, report)
    monkeypatch.undo()
    again = scan(entry, [trio], url, tmp_path)
    assert groups(again) == oracle([trio])
    assert str(victim / "inner.bin") in sum(groups(again), [])


@pytest.mark.timeout(60)
@ENTRIES
def test_file_replaced_by_a_fifo_never_blocks(entry, trio, tmp_path, monkeypatch):
    victim = trio / "big" / "a.bin"

    def swap():
        victim.unlink()
        os.mkfifo(victim)
    sab = Sabotage(monkeypatch, victim, "open", 2, swap, tmp_path / "state")
    report = scan(entry, [trio], sqlite_url(tmp_path), tmp_path)
    assert sab.fired
    _expect_without(trio, victim, report)


def _grow(p: Path) -> None:
    with open(p, "ab") as f:
        f.write(b"more")


def _shrink(p: Path) -> None:
    os.truncate(p, p.stat().st_size // 2)


def _rewrite(p: Path) -> None:
    with open(p, "r+b") as f:
        f.write(b"\x00" * 4096)


def _rewrite_keeping_mtime(p: Path) -> None:     # what rsync --inplace -t or a restore with cp -p ends with
    st = p.stat()
    _rewrite(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))


CHANGES = {"grow": _grow, "shrink": _shrink, "rewrite": _rewrite, "rewrite_keeping_mtime": _rewrite_keeping_mtime}


@ENTRIES
@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("when", ["before_reading", "while_reading"])
def test_file_changing_while_hashed_is_never_recorded_nor_grouped(entry, change, when, trio, tmp_path, monkeypatch):
    """The full hash of big/a.bin: changed after its open checked it (before the first read), or after its
    first 4 KiB were read (-c 4096: the rest is read in many more chunks)."""
    victim = trio / "big" / "a.bin"
    if when == "before_reading":
        sab = Sabotage(monkeypatch, victim, "fstat", 3, lambda: CHANGES[change](victim), tmp_path / "state")
    else:
        sab = Sabotage(monkeypatch, victim, "read", 1, lambda: CHANGES[change](victim), tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(entry, [trio], url, tmp_path, "-c", "4096")
    assert sab.fired
    _expect_without(trio, victim, report)
    row = stored(url, victim)
    assert row is None or row[HASH] is None, "a hash of contents that changed while read was recorded"
    monkeypatch.undo()
    again = scan(entry, [trio], url, tmp_path)
    assert groups(again) == oracle([trio])


@pytest.mark.parametrize("change", ["grow", "shrink"])
def test_small_file_changing_during_its_partial_hash(change, trio, tmp_path, monkeypatch):
    victim = trio / "small" / "a.bin"
    sab = Sabotage(monkeypatch, victim, "fstat", 1, lambda: CHANGES[change](victim), tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(main.main, [trio], url, tmp_path)
    assert sab.fired
    _expect_without(trio, victim, report)
    row = stored(url, victim)
    assert row is None or row[HASH] is None


# ------------------------------------------------------------------------------------ special files
def _cli_scan(root: Path, tmp_path: Path, *extra, script: str = "main_mul.py", timeout: float = 60) -> dict:
    out = tmp_path / f"cli-{time.monotonic_ns()}.json"
    args = [root, "--db-url", sqlite_url(tmp_path, f"cli-{time.monotonic_ns()}.db"), "--skip-html", "--json", out,
            "-q", *extra]
    if script == "main_mul.py":
        args += ["-p", "2"]
    p = run_cli(script, *args, timeout=timeout)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return read_json(out)


@pytest.mark.parametrize("script", ["main.py", "main_mul.py"])
def test_fifo_socket_and_devices_in_the_tree_never_block(script, tmp_path):
    root = tmp_path / "special"
    write(root / "a.bin", blob(1, 5000))
    write(root / "sub" / "b.bin", blob(1, 5000))
    os.mkfifo(root / "fifo")                         # a reader would block until a writer comes
    os.mkfifo(root / "sub" / "fifo-5000")
    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(root)                                  # sun_path is short: bind by a relative name
    try:
        sock.bind("sock")
    finally:
        os.chdir(cwd)
    os.symlink("/dev/zero", root / "zero")           # endless when followed and read
    os.symlink("/dev/null", root / "null")
    os.symlink(root / "fifo", root / "link-to-fifo")
    try:
        for extra in ((), ("--follow-symlinks",), ("--follow-symlinks", "--include-empty")):
            report = _cli_scan(root, tmp_path, *extra, script=script, timeout=60)
            assert groups(report) == [[str(root / "a.bin"), str(root / "sub" / "b.bin")]]
            assert report["summary"]["files_scanned"] == 2
    finally:
        sock.close()


def test_special_file_as_root_or_via_symlink_root(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    p = run_cli("main.py", tmp_path / "fifo", "--db-url", sqlite_url(tmp_path), "--skip-html", timeout=30)
    assert "fifo" in assert_clean_failure(p)


def _loops_tree(tmp_path: Path) -> Path:
    root = tmp_path / "loops"
    write(root / "a" / "x.bin", blob(1, 3000))
    write(root / "a" / "y.bin", blob(1, 3000))
    write(root / "b" / "z.bin", blob(2, 3000))
    write(root / "b" / "w.bin", blob(2, 3000))
    os.symlink("..", root / "a" / "up")                      # a directory loop
    os.symlink("../a", root / "b" / "to-a")                  # a second way into a
    os.symlink("self", root / "self")                        # ELOOP
    os.symlink("m2", root / "m1")                            # m1 -> m2 -> m1
    os.symlink("m1", root / "m2")
    os.symlink("../b/z.bin", root / "a" / "z-link")          # a file symlink: the same inode as b/z.bin
    os.symlink("missing", root / "dangling")
    os.symlink(root, root / "b" / "root-again")
    return root


def _inode_groups(report: dict) -> list[set[tuple[int, int]]]:
    out = []
    for g in groups(report):
        inodes = [(os.stat(p).st_dev, os.stat(p).st_ino) for p in g]
        assert len(set(inodes)) == len(inodes), f"one inode twice in a group: {g}"
        out.append(set(inodes))
    return sorted(out, key=sorted)


@pytest.mark.timeout(60)
@ENTRIES
def test_symlink_loops_with_follow_symlinks(entry, tmp_path):
    root = _loops_tree(tmp_path)
    url = sqlite_url(tmp_path)
    report = scan(entry, [root], url, tmp_path, "--follow-symlinks")
    expected = _inode_groups({"groups": [{"files": g} for g in oracle([root])]})
    assert _inode_groups(report) == expected
    for g in report["groups"]:
        for p in g["files"]:
            assert p.startswith(str(root) + "/") and os.path.isfile(p)
    # each directory entered once: the 4 files (and perhaps the file symlink's own path), never the loop's
    # copies of them
    assert 4 <= report["summary"]["files_scanned"] <= 5
    # without --follow-symlinks, links are not files at all
    plain = scan(entry, [root], url, tmp_path)
    assert groups(plain) == oracle([root])
    assert plain["summary"]["files_scanned"] == 4
    # a loop as the root itself cannot be scanned: exit 1, one line (checked in the command-line tests)
    scan(entry, [root / "self"], url, tmp_path, "--follow-symlinks", code=1)


@ENTRIES
def test_a_symlink_is_never_a_duplicate_of_its_target(entry, tmp_path):
    """cli-contract.md: symbolic links "are never a duplicate of their target", also when followed: a report
    saying x.bin and link-to-x are copies invites deleting x.bin, and then the data is gone."""
    root = tmp_path / "links"
    write(root / "d" / "x.bin", blob(1, 5000))
    write(root / "d" / "y.bin", blob(2, 5000))
    os.symlink("x.bin", root / "d" / "a-link-to-x")        # sorts before its target
    os.symlink("d", root / "dir-link")
    url = sqlite_url(tmp_path)
    assert groups(scan(entry, [root], url, tmp_path, "--follow-symlinks", "--hard-links")) == []
    assert groups(scan(entry, [root], url, tmp_path, "--follow-symlinks")) == []
    write(root / "copy-of-x.bin", blob(1, 5000))
    for extra in (("--follow-symlinks",), ("--follow-symlinks", "--hard-links"), ()):
        # the group names the file itself, not a link to it (deleting a link frees nothing)
        assert groups(scan(entry, [root], url, tmp_path, *extra)) == \
            [[str(root / "copy-of-x.bin"), str(root / "d" / "x.bin")]], extra


# -------------------------------------------------------------------------------------- odd names
def _fs(name: bytes | str) -> str:
    return os.fsdecode(name) if isinstance(name, bytes) else name


ODD_NAMES = [
    "new\nline.bin", "carriage\rreturn.bin", "tab\there.bin", " leading space", "trailing space ", "-dash.bin",
    "--help", "quote'\"`$(x).bin", "glob*?[x].bin", "percent%s%n.bin", "back\\slash.bin",
    b"latin1-\xe9t\xe9.bin", b"\xff\xfe", b"lone-\x80-byte", "\\xff",            # the escape's own spelling
    b"\\x80" + b"\x80",                                                         # both spellings at once
    "caf\u00e9.bin", "cafe\u0301.bin",                                          # NFC and NFD: two names
    "emoji-\U0001F600.bin", "rtl-\u202egnp.exe", "ls\u2028ps.bin", "nul-ish-\u0001.bin", ".hidden", "..dots",
    "x" * 255, ("\u00e9" * 127 + "x"), "\U0001F600" * 63 + "abc",               # 255-byte names
]


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    for k, name in enumerate(ODD_NAMES):
        assert len(os.fsencode(_fs(name))) <= 255
        write(root / "same" / _fs(name), blob(1, 3000))        # all one group
        write(root / "pairs" / _fs(name), blob(100 + k, 1000 + k))
        write(root / "pairs" / "twin" / _fs(name), blob(100 + k, 1000 + k))   # one group per name
    age(root)
    return root


@ENTRIES
def test_odd_names_round_trip_through_the_catalog(entry, odd_tree, db_url, tmp_path):
    report = scan(entry, [odd_tree], db_url, tmp_path)
    expected = oracle([odd_tree])
    assert len(expected) == 1 + len(ODD_NAMES)
    assert groups(report) == expected
    rows = catalog_rows(db_url)
    assert len(rows) == 3 * len(ODD_NAMES)              # distinct names stay distinct rows
    # the catalog maps back to the very same files: a rescan reads nothing and finds the same groups
    again = scan(entry, [odd_tree], db_url, tmp_path)
    assert groups(again) == expected
    assert scans(db_url)[-1].bytes_read == 0
    # and deletions are seen for odd names too
    for name in ODD_NAMES[::2]:
        os.unlink(odd_tree / "pairs" / "twin" / _fs(name))
    after = scan(entry, [odd_tree], db_url, tmp_path)
    assert groups(after) == oracle([odd_tree])
    assert len(catalog_rows(db_url)) == 3 * len(ODD_NAMES) - len(ODD_NAMES[::2])


def _json_names(report: dict) -> set[str]:
    return {p.rsplit("/", 1)[1] for g in report["groups"] for p in g["files"]}


def test_odd_names_in_json_csv_and_html(odd_tree, tmp_path):
    out_json, out_csv, out_html = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.html"
    p = run_cli("main.py", odd_tree, "--db-url", sqlite_url(tmp_path), "--json", out_json, "--csv", out_csv,
                "-r", out_html, "-q")
    assert p.returncode == 0, p.stderr
    report = read_json(out_json)                     # valid UTF-8 JSON whatever the names
    assert {_fs(n) for n in ODD_NAMES} <= _json_names(report)
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["group", "hash", "size", "path", "hard_links"]
    assert sorted(r[3] for r in rows[1:]) == sorted(display_path(p) for g in report["groups"] for p in g["files"])
    assert out_html.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------- long and deep paths
def _random_name(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _mkdirs_beyond_path_max(base: Path, rng: random.Random, total: int) -> list[str]:
    """Creates base/<name>/<name>/... (names of 200 random characters) until the path is `total` bytes
    long, relative to fds so that PATH_MAX does not stop us; returns the names."""
    names = []
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    length = len(os.fsencode(str(base)))
    try:
        while length < total:
            name = _random_name(rng, 200)
            os.mkdir(name, dir_fd=fd)
            new = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = new
            names.append(name)
            length += 201
        for f in ("dup-1.bin", "dup-2.bin"):
            h = os.open(f, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(h, blob(7, 4321))
            os.close(h)
    finally:
        os.close(fd)
    return names


@pytest.mark.timeout(60)
@ENTRIES
def test_paths_near_and_beyond_path_max(entry, db_url, tmp_path):
    """Paths of ~3,000 bytes (incompressible names) must be scanned; beyond PATH_MAX (4,096) they cannot be,
    and count as errors. Either way the scan goes on: the files at the top still group."""
    rng = random.Random(6)
    root = tmp_path / "long"
    write(root / "top-1.bin", blob(1, 999))
    write(root / "top-2.bin", blob(1, 999))
    near = root / "near"
    near.mkdir()
    names = _mkdirs_beyond_path_max(near, rng, 3000)
    near_dir = Path(near, *names)
    assert 2900 < len(os.fsencode(str(near_dir / "dup-1.bin"))) < 3400
    far = root / "far"
    far.mkdir()
    _mkdirs_beyond_path_max(far, rng, 4400)
    report = scan(entry, [root], db_url, tmp_path)
    got = groups(report)
    assert [str(root / "top-1.bin"), str(root / "top-2.bin")] in got
    near_pair = [str(near_dir / "dup-1.bin"), str(near_dir / "dup-2.bin")]
    assert near_pair in got, "a 3,000-byte path (well below PATH_MAX) was not scanned"   # on both backends
    assert report["summary"]["errors"] >= 1        # what lies beyond PATH_MAX is counted, not fatal
    again = scan(entry, [root], db_url, tmp_path)
    assert groups(again) == got


@pytest.mark.timeout(120)
def test_a_thousand_levels_deep(db_url, tmp_path):
    root = tmp_path / "deep"
    root.mkdir()
    dirs = [str(root)]
    for _ in range(1000):                       # pathlib's mkdir(parents=True) recurses: a loop instead
        dirs.append(dirs[-1] + "/d")
        os.mkdir(dirs[-1])
    files = [write(root / "top.bin", blob(3, 2222)), write(Path(dirs[-1]) / "bottom.bin", blob(3, 2222)),
             write(Path(dirs[500]) / "middle.bin", blob(3, 2222))]
    try:
        report = scan(main_mul.main, [root], db_url, tmp_path)
        assert groups(report) == oracle([root]) and len(report["groups"]) == 1
        assert report["groups"][0]["count"] == 3
    finally:                                    # shutil.rmtree (pytest's clean-up) recurses too
        for f in files:
            f.unlink()
        for d in reversed(dirs):
            os.rmdir(d)


@pytest.mark.timeout(120)
def test_ten_thousand_files_in_one_directory(db_url, tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(10_000):
        (root / f"f{i:05d}.bin").write_bytes(b"%d" % (i % 9000))
    t0 = time.monotonic()
    report = scan(main_mul.main, [root], db_url, tmp_path)
    assert time.monotonic() - t0 < 60
    assert report["summary"]["files_scanned"] == 10_000
    assert groups(report) == oracle([root])
    assert len(report["groups"]) == 1000


# ------------------------------------------------------------------------------------- sparse files
def _sparse_dir(tmp_path: Path) -> Path:
    """A directory for multi-GiB sparse files: /dev/shm (tmpfs reads holes without filling the page cache)
    if there is one, else tmp_path."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = shm / f"dupfinder-test-{os.getpid()}-{time.monotonic_ns()}"
        d.mkdir()
        return d
    return tmp_path / "sparse"


@pytest.mark.timeout(120)
def test_sparse_files_beyond_4_gib_are_sized_right(db_url, tmp_path):
    """Two 5 GiB sparse files of different sizes (never read) and a pair of equal 5 GiB ones that differ
    in their first byte (only partial hashes read): sizes past 32 bits stored and summed exactly."""
    d = _sparse_dir(tmp_path)
    try:
        d.mkdir(exist_ok=True)
        sizes = {"a": 5 * 2**30, "b": 5 * 2**30 + 1, "c": 5 * 2**30 + 7, "d": 5 * 2**30 + 7}
        for name, size in sizes.items():
            with open(d / name, "wb") as f:
                f.truncate(size)
        with open(d / "d", "r+b") as f:
            f.write(b"\x01")
        write(d / "small-1", b"abc")
        write(d / "small-2", b"abc")
        report = scan(main_mul.main, [d], db_url, tmp_path)
        assert groups(report) == [[str(d / "small-1"), str(d / "small-2")]]
        assert report["summary"]["bytes_scanned"] == sum(sizes.values()) + 6
        rows = catalog_rows(db_url)
        assert {Path(p).name: r[2] for p, r in rows.items()} == {**sizes, "small-1": 3, "small-2": 3}
        assert scans(db_url)[-1].bytes_read < 2**20
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_equal_sparse_files_beyond_4_gib_group(tmp_path):
    d = _sparse_dir(tmp_path)
    try:
        d.mkdir(exist_ok=True)
        size = 4 * 2**30 + 100 * 2**20
        for name in ("a", "copy-of-a"):
            with open(d / name, "wb") as f:
                f.truncate(size)
                f.seek(size // 2)
                f.write(b"middle")
        report = _cli_scan(d, tmp_path, timeout=240)
        assert groups(report) == [[str(d / "a"), str(d / "copy-of-a")]]
        assert report["groups"][0]["size"] == size and report["summary"]["wasted_bytes"] == size
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- bad command lines, configs
def _usage_error(p) -> None:
    """Exit 2, argparse's usage and one error line naming the problem, no traceback, nothing on stdout."""
    assert p.returncode == 2, f"exit {p.returncode}; stderr:\n{p.stderr}"
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert "usage:" in p.stderr and "error:" in p.stderr


BAD_USAGE = [
    ("--min-size", "-5"), ("--min-size=-5",), ("--max-size", "-1K"), ("--min-size", "10XB"), ("--min-size", ""),
    ("--min-size", "1.2.3"), ("--min-size", "ten"), ("--min-size", "1e3"), ("--min-size", "nan"),
    ("--max-size", "inf"), ("--min-size", "0x10"), ("--min-size", "9" * 400), ("--max-size", "1" + "0" * 330 + "K"),
    ("-c", "0"), ("-c", "1K"), ("-c", "-4M"), ("-c", "9" * 400), ("-b", "0"), ("-b", "-3"), ("-b", "many"),
    ("-a", "md4"), ("-a", ""), ("--algorithm", "crc32"), ("--no-such-option",),
]


@pytest.mark.parametrize("args", BAD_USAGE, ids=lambda a: " ".join(a)[:40])
def test_bad_options_are_usage_errors(args, tmp_path):
    p = run_cli("main.py", tmp_path, "--db-url", sqlite_url(tmp_path), "--skip-html", *args, timeout=30)
    _usage_error(p)
    assert not (tmp_path / "catalog.db").exists()     # refused before touching anything


@pytest.mark.parametrize("args", [("-p", "0"), ("-p", "-1"), ("-p", "two"), ("-p", "1.5"), ("-b", "0"),
                                  ("-p", "99999999999"), ("-c", "100G")],
                         ids=lambda a: " ".join(a))
def test_bad_worker_options_are_usage_errors(args, tmp_path):
    write(tmp_path / "t" / "a", blob(1, BIG))     # a pair that needs a full hash: the read buffer is used
    write(tmp_path / "t" / "b", blob(1, BIG))
    p = run_cli("main_mul.py", tmp_path / "t", "--db-url", sqlite_url(tmp_path), "--skip-html", "-q", *args,
                timeout=60)
    _usage_error(p)


def test_no_arguments_and_main_py_has_no_processes_option(tmp_path):
    _usage_error(run_cli("main.py", timeout=30))
    _usage_error(run_cli("main.py", tmp_path, "-p", "2", "--db-url", sqlite_url(tmp_path), timeout=30))


def _failure(script: str, *args, timeout: float = 60, env=None) -> str:
    p = run_cli(script, *args, timeout=timeout, env=env)
    return assert_clean_failure(p, 1)


@pytest.mark.parametrize("script", ["main.py", "main_mul.py"])
def test_roots_that_cannot_be_scanned(script, tmp_path):
    url = sqlite_url(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    os.symlink("loop", tmp_path / "loop")
    write(tmp_path / "file", b"data")
    cases = {tmp_path / "missing": "No such file", tmp_path / "fifo": "not a directory or regular file",
             tmp_path / "loop": "symbolic links", tmp_path / "file" / "below": "Not a directory", "": "No such file"}
    for root, words in cases.items():
        msg = _failure(script, root, "--db-url", url, "--skip-html", timeout=30)
        assert words in msg, msg


@pytest.mark.parametrize("url,words", [
    ("mysql://user@localhost/db", "unsupported database"),
    ("oracle://scott@db/orcl", "unsupported database"),
    ("mongodb://localhost/x", "unsupported database"),
    ("postgresql+asyncpg://postgres@127.0.0.1/x", "driver"),
    ("sqlite://", "in-memory"),
    ("not a url", "not a database URL"),
    ("postgresql://postgres@127.0.0.1:1/nowhere", "is the PostgreSQL server running"),
])
def test_database_urls_that_cannot_work(url, words, tmp_path):
    msg = _failure("main.py", tmp_path, "--db-url", url, "--skip-html", timeout=40)
    assert words in msg, msg


@pytest.mark.postgres
def test_missing_postgres_database_says_how_to_create_it(pg_url, tmp_path):
    url = make_url(pg_url).set(database="dupfinder_no_such_db").render_as_string(hide_password=False)
    msg = _failure("main.py", tmp_path, "--db-url", url, "--skip-html", timeout=40)
    assert "createdb dupfinder_no_such_db" in msg


def test_sqlite_file_that_cannot_be_made(tmp_path):
    write(tmp_path / "a-file", b"x")
    msg = _failure("main.py", tmp_path, "--db-url", f"sqlite:///{tmp_path / 'a-file' / 'c.db'}", "--skip-html")
    assert "a-file" in msg
    bad = write(tmp_path / "not-a-db.db", b"this is not an SQLite database, just text " * 100)
    msg = _failure("main.py", tmp_path, "--db-url", f"sqlite:///{bad}", "--skip-html")
    assert "database" in msg


@pytest.mark.parametrize("content,words", [
    ({"database": {"type": "postgresql", "host": "127.0.0.1", "port": "5432", "database": "x"}},
     "database.port must be an integer"),
    ({"database": {"type": "postgresql", "host": "127.0.0.1", "port": True, "database": "x"}}, "database.port"),
    ({"database": {"type": "sqlite", "path": 42}}, "database.path must be a string"),
    ({"database": {"type": "mongodb", "path": "x"}}, "database.type"),
    ({"database": {"type": "sqlite"}}, "database.path is required"),
    ({"database": "sqlite:///x.db"}, "must be an object"),
    ({"database": {"type": "sqlite", "path": "x.db", "pasword": "typo"}}, "unknown key database.pasword"),
    ({"db": {}}, "unknown key"),
    (["database"], "top level must be an object"),
    ("{not json", "invalid JSON"),
    (b"\xff\xfe\x00garbage", "cannot read config"),
])
def test_configs_of_the_wrong_shape(content, words, tmp_path):
    cfg = tmp_path / "config.json"
    if isinstance(content, bytes):
        cfg.write_bytes(content)
    else:
        cfg.write_text(content if isinstance(content, str) else json.dumps(content))
    msg = _failure("main.py", tmp_path, "--config", cfg, "--skip-html", timeout=30)
    assert words in msg and "config.json" in msg, msg


def test_missing_config_and_bad_size_range(tmp_path):
    assert "config file not found" in _failure("main.py", tmp_path, "--config", tmp_path / "nope.json")
    p = run_cli("main.py", tmp_path, "--db-url", sqlite_url(tmp_path), "--min-size", "2K", "--max-size", "1K")
    assert p.returncode in (1, 2) and "Traceback" not in p.stderr and "--max-size" in p.stderr


def test_outputs_that_cannot_be_written(tmp_path):
    write(tmp_path / "t" / "a", b"x")
    blocker = write(tmp_path / "blocker", b"x")
    for opt in ("--json", "--csv", "-r"):
        args = [tmp_path / "t", "--db-url", sqlite_url(tmp_path), opt, blocker / "out"]
        if opt != "-r":
            args.append("--skip-html")
        assert "blocker" in _failure("main.py", *args)


# ------------------------------------------------------------------------------------------ security
HOSTILE = ["<img src=x onerror=alert(1)>.txt", "=cmd|'x'!A0.csv", "+1.txt", "-2.txt", "@x.txt", "\tTAB.txt",
           "a,b\"c\r\nd.txt", "<!--.txt", "]]>.txt", "\u2028.txt"]
HOSTILE_PATHS = [Path("=cmd|' ") / "C calc'!A0.csv",              # the classic payload, '/' and all
                 Path("x<") / "script><img src=y onerror=alert(2)>.txt"]   # a path holding "</script>"
PASSWORD = "S3cr3t-p@ss:w/rd%"


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    root = tmp_path / "hostile"
    for rel in [Path(n) for n in HOSTILE] + HOSTILE_PATHS:
        write(root / rel, b"the same bytes in every file\n")
    return root


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def _render_html(root: Path, tmp_path: Path, url: str, name: str) -> str:
    out = tmp_path / f"{name}.html"
    p = run_cli("main.py", root, "--db-url", url, "-r", out, "-q")
    assert p.returncode == 0, p.stderr
    return out.read_text(encoding="utf-8")


def test_html_report_has_no_markup_from_names(hostile_tree, tmp_path):
    url = sqlite_url(tmp_path)
    page = _render_html(hostile_tree, tmp_path, url, "hostile")
    benign = tmp_path / "benign"
    for k in range(len(HOSTILE) + len(HOSTILE_PATHS)):
        write(benign / f"d{k}" / f"file{k}.txt", b"the same bytes in every file\n")
    plain = _render_html(benign, tmp_path, sqlite_url(tmp_path, "benign.db"), "benign")

    for needle in ("<img", "</script><img", "<!--.txt", "]]>.txt"):
        assert needle not in page, needle
    hostile_tags, benign_tags = _Tags(), _Tags()
    hostile_tags.feed(page)
    benign_tags.feed(plain)
    assert sorted({t for t, _ in hostile_tags.tags}) == sorted({t for t, _ in benign_tags.tags})
    assert len(hostile_tags.scripts) == len(benign_tags.scripts)
    for tag, attrs in hostile_tags.tags:
        assert not any(a.lower().startswith("on") for a, _ in attrs), (tag, attrs)
    # the names are in the page's data, intact
    data = next(json.loads(s) for s in hostile_tags.scripts if s.lstrip().startswith("{"))
    text = "\n".join(_strings(data))
    for rel in [Path(n) for n in HOSTILE] + HOSTILE_PATHS:
        assert str(rel) in text or rel.name in text, rel


def test_csv_quotes_per_rfc_4180_and_neutralizes_formulas(hostile_tree, tmp_path):
    out_csv, out_json = tmp_path / "d.csv", tmp_path / "d.json"
    p = run_cli("main.py", hostile_tree, "--db-url", sqlite_url(tmp_path), "--csv", out_csv, "--json", out_json,
                "--skip-html", "-q")
    assert p.returncode == 0, p.stderr
    raw = out_csv.read_bytes()
    assert raw.endswith(b"\r\n")
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, strict=True))
    report = read_json(out_json)
    assert rows[0] == ["group", "hash", "size", "path", "hard_links"]
    assert [r[3] for r in rows[1:]] == [display_path(p) for g in report["groups"] for p in g["files"]]
    assert len(rows) - 1 == len(HOSTILE) + len(HOSTILE_PATHS)
    for r in rows[1:]:
        assert not r[3].startswith(("=", "+", "-", "@", "\t", "\r")), r


def test_csv_writer_neutralizes_cells_that_a_spreadsheet_would_run(tmp_path):
    """Paths are absolute, so a formula can only start a cell if a path ever does not start with '/':
    the writer must still neutralize it (defense in depth), and quote per RFC 4180."""
    from utilities import exports
    nasty = ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tTAB", "\rCR", "plain", 'qu"ote,comma\r\nnl', "=1+1"]
    report = as_report({"groups": [{"hash": "ab", "size": 3, "files": nasty}],
                        "summary": {"files_scanned": 9, "bytes_scanned": 27, "duplicate_groups": 1,
                                    "duplicate_files": 9, "wasted_bytes": 24, "errors": 0}})
    out = tmp_path / "n.csv"
    exports.write_csv(str(out), report)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, strict=True))
    cells = [r[3] for r in rows[1:]]
    for original, cell in zip(nasty, cells):
        if original.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert cell == "'" + original
        else:
            assert cell == original
    assert len(cells) == len(nasty)


def _with_password(url: str) -> str:
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def _assert_no_password(*texts: str) -> None:
    from urllib.parse import quote
    for t in texts:
        for form in (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)):
            assert form not in t, f"password ({form}) leaked in:\n{t[:2000]}"


@pytest.mark.postgres
def test_password_never_appears_in_output_report_or_exports(hostile_tree, pg_url, tmp_path):
    url = _with_password(pg_url)                    # trust auth: the server ignores it
    out_json, out_csv, out_html = tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.html"
    p = run_cli("main_mul.py", hostile_tree, "--db-url", url, "-p", "2", "-v", "--json", out_json, "--csv", out_csv,
                "-r", out_html)
    assert p.returncode == 0, p.stderr
    assert "***" in p.stderr                       # the masked URL is shown
    _assert_no_password(p.stdout, p.stderr, out_json.read_text(), out_csv.read_text(), out_html.read_text())
    # the same through the environment and a config file
    env_run = run_cli("main.py", hostile_tree, "-v", "--skip-html", env={"DUPFINDER_DB_URL": url})
    assert env_run.returncode == 0, env_run.stderr
    u = make_url(pg_url)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"database": {"type": "postgresql", "host": u.host, "port": u.port or 5432,
                                            "user": u.username, "password": PASSWORD, "database": u.database}}))
    cfg_run = run_cli("main.py", hostile_tree, "--config", cfg, "-v", "--skip-html")
    assert cfg_run.returncode == 0, cfg_run.stderr
    _assert_no_password(env_run.stdout, env_run.stderr, cfg_run.stdout, cfg_run.stderr)


@pytest.mark.postgres
@pytest.mark.parametrize("verbose", [(), ("-v",), ("-vv",)], ids=["quiet", "v", "vv"])
def test_password_never_appears_in_failures(pg_url, tmp_path, verbose):
    write(tmp_path / "t" / "a", b"x")
    for bad in (make_url(pg_url).set(database="dupfinder_no_such_db"), make_url(pg_url).set(port=1),
                make_url(pg_url).set(host="no-such-host.invalid")):
        url = _with_password(bad.render_as_string(hide_password=False))
        p = run_cli("main.py", tmp_path / "t", "--db-url", url, "--skip-html", *verbose, timeout=40)
        assert p.returncode == 1
        if not verbose:
            assert_clean_failure(p)
        _assert_no_password(p.stdout, p.stderr)
