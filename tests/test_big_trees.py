"""Big trees: paths near and beyond PATH_MAX, a thousand levels deep, ten thousand files in one directory,
sparse files beyond 4 GiB. Sizes past 32 bits are stored and summed exactly; what cannot be scanned is
counted, and the scan goes on."""
from __future__ import annotations

import os
import random
import shutil
import string
import time
from pathlib import Path

import pytest

import main_mul
from _db import SIZE, catalog_rows, scans
from _run import ENTRIES, run_cli, scan, sqlite_url
from _trees import blob, groups, oracle, read_json, write


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
def test_paths_near_and_beyond_path_max(entry, db_url, tmp_path, skipped):
    """Paths of ~3,000 bytes (incompressible names) must be scanned, on both backends; beyond PATH_MAX (4,096)
    they cannot be, and count as errors. Either way the scan goes on: the files at the top still group."""
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
    # beyond PATH_MAX: the first directory whose path is too long is skipped, and nothing below it is seen
    too_deep = {p: why for p, why in skipped().items() if p.startswith(str(far) + "/")}
    assert list(too_deep.values()) == ["OSError: File name too long"], too_deep.values()
    assert len(os.fsencode(next(iter(too_deep)))) > 4096 - 201
    near_pair = [str(near_dir / "dup-1.bin"), str(near_dir / "dup-2.bin")]
    assert near_pair in got, "a 3,000-byte path (well below PATH_MAX) was not scanned"   # on both backends
    assert report["summary"]["errors"] == 1 and len(skipped()) == 1
    again = scan(entry, [root], db_url, tmp_path)
    assert groups(again) == got


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ten_thousand_files_in_one_directory(db_url, tmp_path):
    """-b 1000 (the default) rather than scan()'s 3-row batches: 3,333 commits would time the database, not
    the walk of a wide directory."""
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(10_000):
        (root / f"f{i:05d}.bin").write_bytes(b"%d" % (i % 9000))
    t0 = time.monotonic()
    report = scan(main_mul.main, [root], db_url, tmp_path, "-b", "1000")
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
        assert {Path(p).name: r[SIZE] for p, r in rows.items()} == {**sizes, "small-1": 3, "small-2": 3}
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
        out = tmp_path / "sparse.json"
        p = run_cli("main_mul.py", d, "--db-url", sqlite_url(tmp_path), "--skip-html", "--json", out, "-q",
                    "-p", "2", timeout=240)
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        report = read_json(out)
        assert groups(report) == [[str(d / "a"), str(d / "copy-of-a")]]
        assert report["groups"][0]["size"] == size and report["summary"]["wasted_bytes"] == size
    finally:
        shutil.rmtree(d, ignore_errors=True)


