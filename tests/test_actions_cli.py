"""Acting on duplicates through the command line (cli-contract.md, "Acting on duplicates"): the dry run, --plan
and --apply-plan, --apply with its journal in the catalog and the catalog's rows brought up to date, --undo-move,
the usage errors, kill -9 in the middle of an apply, and a property test of the whole scan-plan-apply chain."""
from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

import main
import main_mul
from _db import scans
from _dedupe import contents_under, snapshot, temporaries
from _run import ENTRIES, start_cli, wait_for
from _trees import age, blob, write
from test_dedupe_property import build, keep_rules, regular_files
from utilities.database import DedupeAction, FileHash

PAST = 1_600_000_000


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Two roots' worth of duplicates: a/x = b/x = b/x2 (3 copies, 200 kB), a/y = b/y (5 kB), lone b/z."""
    root = tmp_path / "t"
    write(root / "a" / "x", blob(1, 200_000))
    write(root / "b" / "x", blob(1, 200_000))
    write(root / "b" / "x2", blob(1, 200_000))
    write(root / "a" / "y", blob(2, 5000))
    write(root / "b" / "y", blob(2, 5000))
    write(root / "b" / "z", blob(3, 5000))
    age(root, PAST)
    return root


def run(entry, args, capsys) -> tuple[int, str, str]:
    if entry is main_mul.main:
        args = [*args, "-p", "2"]
    code = entry([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def journal(url: str) -> list[DedupeAction]:
    engine = create_engine(url)
    try:
        from sqlalchemy.orm import Session
        with Session(engine) as s:
            rows = list(s.scalars(select(DedupeAction).order_by(DedupeAction.id)))
            s.expunge_all()
        return rows
    finally:
        engine.dispose()


def stored_paths(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return set(c.scalars(select(FileHash.absolute_path)))
    finally:
        engine.dispose()


@ENTRIES
def test_a_dry_run_changes_nothing_and_prints_the_plan(entry, tree, tmp_path, capsys):
    before = snapshot(str(tree))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code, out, _ = run(entry, [tree, "--db-url", url, "--skip-html", "--action", "delete"], capsys)
    assert code == 0
    assert snapshot(str(tree)) == before                       # bytes, names, modes, mtimes, inodes
    lines = out.splitlines()
    assert lines[:3] == [f"rm -- {tree}/b/x  # frees 195.3 KiB", f"rm -- {tree}/b/x2  # frees 195.3 KiB",
                         f"rm -- {tree}/b/y  # frees 4.9 KiB"]
    assert lines[-1].startswith("# dry run: 3 operations in 2 groups would free 395.5 KiB (405,000 bytes)")
    assert journal(url) == []


@ENTRIES
def test_apply_hardlink_journals_and_a_rescan_reads_nothing(entry, tree, db_url, tmp_path, capsys):
    code, out, _ = run(entry, [tree, "--db-url", db_url, "--skip-html", "--action", "hardlink", "--apply"], capsys)
    assert code == 0
    assert out.splitlines()[-1].startswith("# applied: 3 done, 0 skipped, 0 failed; freed 395.5 KiB")
    assert (tree / "a" / "x").stat().st_ino == (tree / "b" / "x").stat().st_ino == (tree / "b" / "x2").stat().st_ino
    assert (tree / "b" / "y").read_bytes() == blob(2, 5000)
    rows = journal(db_url)
    assert [(r.action, r.outcome, os.path.basename(r.path), os.path.basename(r.kept)) for r in rows] == \
        [("hardlink", "done", "x", "x"), ("hardlink", "done", "x2", "x"), ("hardlink", "done", "y", "y")]
    assert {r.host for r in rows} == {scans(db_url)[-1].host}
    out_json = tmp_path / "again.json"
    code, _, _ = run(entry, [tree, "--db-url", db_url, "--skip-html", "--json", out_json], capsys)
    assert code == 0
    assert scans(db_url)[-1].bytes_read == 0                   # the catalog's rows followed the links
    assert json.loads(out_json.read_text())["groups"] == []   # no group that was resolved


def test_plan_then_apply_plan_with_a_non_utf8_name(tmp_path, capsys):
    root = tmp_path / "t"
    write(root / "keep", b"same bytes")
    odd = os.path.join(os.fsencode(root), b"odd \xff name")
    with open(odd, "wb") as f:
        f.write(b"same bytes")
    age(root, PAST)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    plan = tmp_path / "plan.json"
    code, _, _ = run(main.main, [root, "--db-url", url, "--skip-html", "--action", "delete", "--keep", "path",
                                 "--plan", plan, "-q"], capsys)
    assert code == 0 and os.path.lexists(odd)
    doc = json.loads(plan.read_text(encoding="utf-8"))
    assert [os.fsencode(op["path"]) for g in doc["groups"] for op in g["ops"]] == [odd]
    code, out, _ = run(main.main, ["--apply-plan", plan, "--db-url", url], capsys)
    assert code == 0, out
    assert not os.path.lexists(odd) and (root / "keep").read_bytes() == b"same bytes"
    assert [(r.action, r.outcome, os.fsencode(r.path)) for r in journal(url)] == \
        [("delete", "done", odd.replace(b"\xff", b"\\xff"))]          # stored as paths.db_path keeps it


def test_an_edited_plan_applies_what_is_left_and_a_malformed_one_is_refused(tree, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    plan = tmp_path / "plan.json"
    assert run(main.main, [tree, "--db-url", url, "--skip-html", "--action", "delete", "--plan", plan, "-q"],
               capsys)[0] == 0
    doc = json.loads(plan.read_text())
    doc["groups"] = [g for g in doc["groups"] if g["size"] == 5000]          # the user kept only one group
    plan.write_text(json.dumps(doc))
    assert run(main.main, ["--apply-plan", plan, "--db-url", url, "-q"], capsys)[0] == 0
    assert not (tree / "b" / "y").exists() and (tree / "b" / "x").exists() and (tree / "b" / "x2").exists()
    doc["groups"][0]["ops"][0]["action"] = "shred"
    plan.write_text(json.dumps(doc))
    code, out, err = run(main.main, ["--apply-plan", plan, "--db-url", url], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith("error: ") and "shred" in err


def test_move_and_undo_give_the_tree_back(tree, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    quarantine = tmp_path / "q"
    before = snapshot(str(tree), strict=False)
    code, out, _ = run(main.main, [tree, "--db-url", url, "--skip-html", "--action", "move", "--move-to",
                                   quarantine, "--apply"], capsys)
    assert code == 0
    assert not (tree / "b" / "x").exists() and (quarantine / str(tree).lstrip("/") / "b" / "x").is_file()
    assert "--undo-move ID puts one file back" in out
    moves = journal(url)
    assert [r.outcome for r in moves] == ["done"] * 3
    code, out, _ = run(main.main, ["--undo-move", str(moves[0].id), "--db-url", url], capsys)
    assert code == 0 and (tree / "b" / "x").is_file() and not (tree / "b" / "x2").exists()
    code, out, _ = run(main.main, ["--undo-move", "all", "--db-url", url], capsys)
    assert code == 0 and out.splitlines()[-1] == "# undo: 2 of 2 moved files put back"
    assert snapshot(str(tree), strict=False) == before
    assert all(r.undone_at is not None for r in journal(url))
    code, _, err = run(main.main, ["--undo-move", "all", "--db-url", url], capsys)
    assert code == 1 and "no move of host" in err


def test_protect_and_keep_copies(tree, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code, _, _ = run(main.main, [tree, "--db-url", url, "--skip-html", "--action", "delete", "--apply",
                                 "--protect", "x2", "--keep-copies", "2", "-q"], capsys)
    assert code == 0
    # x: a/x and b/x kept (two copies), b/x2 protected; y: both kept (two copies)
    assert all((tree / p).exists() for p in ("a/x", "b/x", "b/x2", "a/y", "b/y"))
    code, _, _ = run(main.main, [tree, "--db-url", url, "--skip-html", "--action", "delete", "--apply",
                                 "--protect", "b/x2", "-q"], capsys)
    assert code == 0
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()) == ["a/x", "a/y", "b/x2", "b/z"]


@pytest.mark.parametrize("args, words", [
    (["--apply"], "--apply needs --action"),
    (["--action", "move"], "--action move needs --move-to"),
    (["--action", "delete", "--move-to", "/q"], "--move-to is only for --action move"),
    (["--action", "delete", "--keep", "oldest,newest"], "contradict each other"),
    (["--action", "delete", "--keep", "biggest"], "unknown rule"),
    (["--action", "delete", "--keep-copies", "0"], "--keep-copies must be between"),
    (["--protect", "x"], "--protect needs --action"),
    (["--action", "shred"], "invalid choice"),
])
def test_bad_acting_options_are_usage_errors(args, words, tree, tmp_path, capsys):
    code, out, err = run(main.main, [tree, "--db-url", f"sqlite:///{tmp_path / 'c.db'}", *args], capsys)
    assert code == 2 and out == "" and "usage:" in err and words in err, err
    assert not (tmp_path / "c.db").exists()


@pytest.mark.parametrize("args, words", [
    (["--apply-plan", "p.json", "somewhere"], "--apply-plan takes no PATH"),
    (["--apply-plan", "p.json", "--action", "delete"], "--action cannot be used with --apply-plan"),
    (["--undo-move", "all", "--apply"], "--apply cannot be used with --undo-move"),
    (["--undo-move", "seven"], "--undo-move takes a journal entry's number or 'all'"),
    ([], "the following arguments are required: PATH"),
])
def test_modes_without_a_scan_are_checked(args, words, capsys):
    code, out, err = run(main.main, args, capsys)
    assert code == 2 and out == "" and words in err, err


def test_the_report_marks_the_plan(tree, tmp_path, capsys):
    page = tmp_path / "r.html"
    code, _, _ = run(main.main, [tree, "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "-r", page, "--action",
                                 "symlink", "-q"], capsys)
    assert code == 0
    html = page.read_text(encoding="utf-8")
    assert 'data-stat="action"' in html and "The plan would free" in html and "395.5 KiB" in html
    data = json.loads(html.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
    marks = {m[2] for m in data["marks"]}
    assert "kept" in marks and "would become a symbolic link to the kept copy" in marks


@pytest.mark.timeout(120)
def test_kill_9_in_the_middle_of_apply(tmp_path):
    """Every path stays whole, the journal holds only started and done entries (a change made is never
    missing from it), and the next run removes the temporaries and finishes the job."""
    root = tmp_path / "t"
    for i in range(30):
        write(root / "keep" / f"f{i:02d}", blob(i, 3000))
        write(root / "copy" / f"f{i:02d}", blob(i, 3000))
    age(root, PAST)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    proc = start_cli("tests/_harness.py", "main.py", root, "--db-url", url, "--skip-html", "--action", "hardlink",
                     "--apply", "-q", env={"DUPFINDER_TEST_CHANGE_DELAY": "0.2"})
    def journaled() -> int:
        try:
            return sum(r.outcome in ("started", "done") for r in journal(url))
        except Exception:                   # no catalog, or no journal table, yet
            return 0
    assert wait_for(lambda: journaled() >= 2 or proc.poll() is not None, timeout=60)
    assert proc.poll() is None, "the apply ended before it could be killed"
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    rows = journal(url)
    assert {r.outcome for r in rows} <= {"started", "done"} and any(r.outcome == "started" for r in rows)
    for i in range(30):
        assert (root / "copy" / f"f{i:02d}").read_bytes() == blob(i, 3000)     # present, whole
        assert (root / "keep" / f"f{i:02d}").read_bytes() == blob(i, 3000)
    linked = {os.path.basename(r.path) for r in rows if r.outcome == "done"}
    for name in linked:                                       # what the journal says was done, was done
        assert (root / "copy" / name).stat().st_ino == (root / "keep" / name).stat().st_ino
    code = main.main([str(root), "--db-url", url, "--skip-html", "--action", "hardlink", "--apply", "-q"])
    assert code == 0 and temporaries(str(tmp_path)) == []
    for i in range(30):
        assert (root / "copy" / f"f{i:02d}").stat().st_ino == (root / "keep" / f"f{i:02d}").stat().st_ino


# ------------------------------------------------------------------------------------------- property
SAFE_FRAGMENTS = [b"a", b"b", b"0", b"-"]         # --protect takes them as globs: *FRAGMENT*
ACTIONS = ["delete", "hardlink", "symlink", "move"]
chain = st.fixed_dictionaries({
    "dirs": st.lists(st.tuples(st.integers(0, 4), st.sampled_from([b"d", b"e \xff", b"f\n"])), max_size=3),
    "files": st.lists(st.tuples(st.integers(0, 7), st.sampled_from([b"a", b"b'", b"c \xe9", b"-d", b"e\\x"]),
                                st.sampled_from([2, 2, 3, 3, 4, 1]), st.sampled_from([0o644, 0o600]),
                                st.integers(0, 3)), min_size=3, max_size=10),
    "links": st.lists(st.tuples(st.integers(0, 9), st.integers(0, 7), st.sampled_from([b"h1", b"h2"])), max_size=2),
    "outside_links": st.lists(st.integers(0, 9), max_size=1),
    "action": st.sampled_from(ACTIONS),
    "rules": st.lists(st.sampled_from(["first-root", "oldest", "newest", "shortest-path", "most-nested"]),
                      unique=True, max_size=2),
    "keep_copies": st.integers(1, 3),
    "protect": st.one_of(st.none(), st.sampled_from(SAFE_FRAGMENTS)),
})


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(s=chain)
def test_scan_plan_apply_keeps_every_content(s, capsys):
    """Scan, plan and --apply through main.main on random trees: every distinct content under the roots is
    still there at least min(--keep-copies, copies before) times, protected files are untouched, nothing
    outside the roots changed, every path reads its bytes (or was deleted, or moved into the quarantine),
    and a rescan reads nothing again."""
    with tempfile.TemporaryDirectory() as t:
        top = os.fsencode(t)
        files = build(top, {**s, "edit": None})
        assume(files)
        roots = [os.fsdecode(top + b"/r0"), os.fsdecode(top + b"/r1")]
        q = os.fsdecode(top + b"/quarantine")
        before_files = {r: regular_files(os.fsencode(r)) for r in roots}
        before_counts = contents_under(roots)
        outside = snapshot(os.fsdecode(top + b"/outside"), strict=False)
        protect = ["--protect", f"*{s['protect'].decode()}*"] if s["protect"] else []
        protected = {p: (v, os.lstat(p)) for r in roots for p, v in before_files[r].items()
                     if s["protect"] and s["protect"] in os.path.basename(p)}
        url = f"sqlite:///{t}/c.db"
        args = [*roots, "--db-url", url, "--skip-html", "-q", "--action", s["action"], "--apply",
                "--keep", ",".join(keep_rules(list(s["rules"]))), "--keep-copies", str(s["keep_copies"]), *protect]
        if s["action"] == "move":
            args += ["--move-to", q]
        assert main.main(args) == 0
        capsys.readouterr()
        after_counts = contents_under(roots)
        for content, n in before_counts.items():
            assert after_counts.get(content, 0) >= min(n, s["keep_copies"])
        for p, (data, st0) in protected.items():
            st1 = os.lstat(p)
            assert Path(os.fsdecode(p)).read_bytes() == data and (st1.st_ino, st1.st_mtime_ns) == \
                (st0.st_ino, st0.st_mtime_ns)
        assert snapshot(os.fsdecode(top + b"/outside"), strict=False) == outside
        for r in roots:
            for p, data in before_files[r].items():
                if os.path.lexists(p):
                    assert Path(os.fsdecode(p)).read_bytes() == data
                else:
                    assert s["action"] in ("delete", "move")
                    if s["action"] == "move":
                        assert Path(q + os.fsdecode(p)).read_bytes() == data
        assert temporaries(t) == []
        assert main.main([*roots, "--db-url", url, "--skip-html", "-q"]) == 0
        assert scans(url)[-1].bytes_read == 0
        assert stored_paths(url)        # the catalog still holds the files
