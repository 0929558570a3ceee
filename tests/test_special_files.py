"""Special files and links in the tree: FIFOs, sockets and devices never block a scan nor count as files;
symbolic-link loops are entered once; a symbolic link is never a duplicate of its target."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from _run import ENTRIES, SCRIPTS, assert_clean_failure, run_cli, scan, sqlite_url
from _trees import blob, groups, oracle, read_json, write


def cli_scan(script: str, root: Path, tmp_path: Path, *extra) -> dict:
    """Runs the script as a subprocess (a read that blocks cannot hang the test: it is killed after 60 s)."""
    out = tmp_path / f"cli-{time.monotonic_ns()}.json"
    args = [root, "--db-url", sqlite_url(tmp_path, f"cli-{time.monotonic_ns()}.db"), "--skip-html", "--json", out,
            "-q", *extra]
    if script == "main_mul.py":
        args += ["-p", "2"]
    p = run_cli(script, *args, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return read_json(out)


@pytest.mark.slow   # three scans, each a new interpreter
@SCRIPTS
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
            report = cli_scan(script, root, tmp_path, *extra)
            assert groups(report) == [[str(root / "a.bin"), str(root / "sub" / "b.bin")]]
            assert report["summary"]["files_scanned"] == 2
    finally:
        sock.close()


def test_special_file_as_root_or_via_symlink_root(cli, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "fifo", tmp_path / "link-to-fifo")
    for root in (tmp_path / "fifo", tmp_path / "link-to-fifo"):
        msg = assert_clean_failure(cli("main.py", root, "--db-url", sqlite_url(tmp_path), "--skip-html"))
        assert msg == f"error: {root}: not a directory or regular file"


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
    # each directory entered once: the 4 files, never the loop's copies of them; a/z-link reaches b/z.bin,
    # one file reached by two paths, counted once (cli-contract.md)
    assert report["summary"]["files_scanned"] == 4
    # without --follow-symlinks, links are not files at all
    plain = scan(entry, [root], url, tmp_path)
    assert groups(plain) == oracle([root])
    assert plain["summary"]["files_scanned"] == 4
    # a loop as the root itself cannot be scanned: exit 1 (its message: test_usage_errors)
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
