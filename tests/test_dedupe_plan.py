"""Issue 11, planning and the dry run: what is kept, what each operation frees (never space it does not
free), and that a dry run changes nothing and prints one shell-quoted line per operation."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from _dedupe import findings, snapshot, write
from utilities.dedupe.keep import parse_keep
from utilities.dedupe.plan import PlanError, make_plan
from utilities.dedupe.planfile import write_plan
from utilities.dedupe.quoting import shell_quote
from utilities.dedupe.render import dry_run_lines

ODD_NAMES = [b"new\nline", b"it's", b'say "hi"', b"-rf", b"--help", b"bad\xffbyte", "caf\u00e9".encode(),
             b"tab\there", b"back\\slash", b"$(touch pwned)", b"`x`", b"*", b"~home", b"sp ace", b"\x1b[31mred"]


@pytest.fixture
def shm(tmp_path):
    """A folder on another file system (tmpfs) than tmp_path."""
    d = tempfile.mkdtemp(dir="/dev/shm", prefix="dupfinder-test-")
    assert os.stat(d).st_dev != os.stat(tmp_path).st_dev
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def ops_of(plan):
    return [(op.action, op.path, op.kept, op.frees) for g in plan.groups for op in g.ops]


def test_each_group_keeps_its_best_copy_and_plans_the_rest(tmp_path):
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    a = write(r2 / "a", b"x" * 100, mtime_ns=10**18)
    b = write(r1 / "deep/b", b"x" * 100, mtime_ns=2 * 10**18)
    c = write(r2 / "c", b"x" * 100, mtime_ns=10**18)
    plan = make_plan(findings([r1, r2]), "delete")
    assert plan.groups[0].kept == (b,)                      # first-root decides
    assert ops_of(plan) == [("delete", a, b, 100), ("delete", c, b, 100)]
    assert plan.bytes_to_free == 200 and plan.operations == 2
    plan = make_plan(findings([r1, r2]), "delete", keep=parse_keep("oldest"))
    assert plan.groups[0].kept == (a,)                      # a and c equally old: path decides


def test_keep_copies_keeps_the_n_best(tmp_path):
    paths = [write(tmp_path / f"f{i}", b"same", mtime_ns=(10 - i) * 10**17) for i in range(5)]
    plan = make_plan(findings([tmp_path]), "delete", keep_copies=3)
    g = plan.groups[0]
    assert g.kept == (paths[4], paths[3], paths[2])          # the oldest three
    assert [op.path for op in g.ops] == [paths[1], paths[0]]   # in rank order
    assert make_plan(findings([tmp_path]), "delete", keep_copies=5).operations == 0
    with pytest.raises(PlanError, match="at least 1"):
        make_plan(findings([tmp_path]), "delete", keep_copies=0)


def test_protected_files_are_kept_in_addition(tmp_path):
    keep = write(tmp_path / "a/keep", b"data")
    prot = write(tmp_path / "backup/copy", b"data")
    other = write(tmp_path / "z/other", b"data")
    plan = make_plan(findings([tmp_path]), "delete", protect=lambda p: "/backup/" in p)
    g = plan.groups[0]
    assert g.kept == (keep,) and g.protected == (prot,)
    assert [op.path for op in g.ops] == [other]


def test_a_protected_hard_link_protects_its_file(tmp_path):
    write(tmp_path / "a", b"data")
    v = write(tmp_path / "b", b"data")
    os.link(v, tmp_path / "protected-name")
    plan = make_plan(findings([tmp_path]), "hardlink", protect=lambda p: p.endswith("protected-name"))
    assert plan.operations == 0 and plan.groups[0].protected == (v,)


def test_hard_links_are_handled_with_all_their_names_and_free_once(tmp_path):
    write(tmp_path / "a", b"data" * 10)
    v = write(tmp_path / "b", b"data" * 10)
    os.link(v, tmp_path / "c")
    plan = make_plan(findings([tmp_path]), "delete")
    ops = plan.groups[0].ops
    assert [op.path for op in ops] == [v, str(tmp_path / "c")]
    assert [op.frees for op in ops] == [0, 40]            # only the last name frees the file
    assert "by itself" in ops[0].note
    assert plan.bytes_to_free == 40


def test_a_name_outside_the_roots_means_removing_frees_nothing(tmp_path):
    root = tmp_path / "root"
    write(root / "a", b"data" * 10)
    v = write(root / "b", b"data" * 10)
    os.link(v, tmp_path / "outside")
    plan = make_plan(findings([root]), "delete")
    (op,) = plan.groups[0].ops
    assert op.frees == 0 and "1 more hard link(s) outside the roots" in op.note
    assert plan.bytes_to_free == 0
    assert "frees nothing: 1 more hard link(s) outside the roots keep it" in "\n".join(dry_run_lines(plan))


def test_with_hard_links_as_entries_one_inode_is_one_file(tmp_path):
    """--hard-links lists each name as its own entry: planning merges them, so no name of a file is taken
    for a copy of another."""
    write(tmp_path / "a", b"data")
    os.link(tmp_path / "a", tmp_path / "a2")
    write(tmp_path / "b", b"data")
    f = findings([tmp_path])
    g = f.groups[0]
    split = []
    for x in g.files:
        split += [x._replace(hard_links=())] + [x._replace(path=n, hard_links=()) for n in x.hard_links]
    plan = make_plan(f._replace(groups=(g._replace(files=tuple(split)),)), "delete")
    (pg,) = plan.groups
    assert len(pg.files) == 2
    assert pg.kept == (str(tmp_path / "a"),) and [op.path for op in pg.ops] == [str(tmp_path / "b")]


def test_links_never_planned_across_file_systems(tmp_path, shm):
    k = write(tmp_path / "k", b"data")
    write(shm / "v", b"data")
    for action in ("hardlink", "reflink"):
        plan = make_plan(findings([tmp_path, shm]), action)
        assert plan.operations == 0
        (left,) = plan.groups[0].left
        assert left.path == str(shm / "v") and "another file system" in left.reason
    plan = make_plan(findings([tmp_path, shm]), "symlink")
    assert ops_of(plan) == [("symlink", str(shm / "v"), k, 4)]


def test_hardlink_target_is_the_best_kept_copy_on_the_same_file_system(tmp_path, shm):
    k1 = write(tmp_path / "k1", b"data")
    k2 = write(shm / "k2", b"data")
    v = write(shm / "v", b"data")
    plan = make_plan(findings([tmp_path, shm]), "hardlink", keep_copies=2)
    assert plan.groups[0].kept == (k1, k2)
    assert ops_of(plan) == [("hardlink", v, k2, 4)]


def test_reflink_on_a_file_system_without_clones_is_left_with_the_reason(tmp_path):
    write(tmp_path / "a", b"data")
    write(tmp_path / "b", b"data")
    plan = make_plan(findings([tmp_path]), "reflink")
    assert plan.operations == 0 and plan.bytes_to_free == 0
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True).stdout.strip()
    assert [x.reason for x in plan.groups[0].left] == [f"the file system ({fs.replace('ext2/ext3', 'ext4')}) "
                                                       "cannot clone files"]


def test_move_needs_a_quarantine_outside_the_roots_and_frees_only_across_file_systems(tmp_path, shm):
    write(tmp_path / "r/a", b"data")
    v = write(tmp_path / "r/b", b"data")
    f = findings([tmp_path / "r"])
    with pytest.raises(PlanError, match="needs --move-to"):
        make_plan(f, "move")
    with pytest.raises(PlanError, match="inside the root"):
        make_plan(f, "move", move_to=str(tmp_path / "r/q"))
    with pytest.raises(PlanError, match="only for --action move"):
        make_plan(f, "delete", move_to=str(tmp_path / "q"))
    same = make_plan(f, "move", move_to=str(tmp_path / "q/not/yet/made"))
    (op,) = same.groups[0].ops
    assert op.dest == str(tmp_path / "q/not/yet/made") + v and op.frees == 0
    assert "same file system" in op.note
    other = make_plan(f, "move", move_to=str(shm / "q"))
    assert other.groups[0].ops[0].frees == 4


def test_unknown_action_is_refused(tmp_path):
    with pytest.raises(PlanError, match="unknown action 'shred'"):
        make_plan(findings([tmp_path]), "shred")


def test_shell_quote_gives_back_the_exact_bytes_in_bash():
    for raw in [*ODD_NAMES, b"plain-name.txt", b"", b"\xc3", b"a'b\"c\\d\ne"]:
        name = os.fsdecode(raw)
        q = shell_quote(name)
        assert "\n" not in q
        q.encode("utf-8")                                  # valid text on any terminal
        out = subprocess.run(["bash", "-c", f"printf %s {q}"], capture_output=True, check=True).stdout
        assert out == raw, (raw, q)


def test_dry_run_changes_nothing_and_prints_one_line_per_operation(tmp_path):
    root = tmp_path / "root"
    for i, raw in enumerate(ODD_NAMES):
        write(os.fsencode(root) + b"/d%d/" % (i % 3) + raw, b"content %d" % (i % 4), mode=0o640 + (i % 2))
    os.link(os.fsencode(root) + b"/d0/" + ODD_NAMES[0], os.fsencode(root) + b"/hard link")
    os.symlink("d0", root / "a symlink")
    before = snapshot(tmp_path)
    for action in ("delete", "hardlink", "symlink", "reflink"):
        plan = make_plan(findings([root]), action)
        lines = list(dry_run_lines(plan))
        write_plan(str(tmp_path.parent / f"plan-{tmp_path.name}.json"), plan)
        assert len(lines) == plan.operations + sum(len(g.left) for g in plan.groups) + 1
        for line in lines:
            line.encode("utf-8")
        assert lines[-1].startswith("# dry run:") and "nothing was changed" in lines[-1]
    plan = make_plan(findings([root]), "move", move_to=str(tmp_path.parent / f"q-{tmp_path.name}"))
    list(dry_run_lines(plan))
    assert snapshot(tmp_path) == before                    # bytes, names, modes, mtimes, ctimes, inodes
    assert not os.path.exists(tmp_path.parent / f"q-{tmp_path.name}")
    os.unlink(tmp_path.parent / f"plan-{tmp_path.name}.json")


def test_dry_run_lines_are_runnable_shell(tmp_path):
    """Each dry-run line is a shell command that does what apply would (unsafely): run them in a copy and
    compare with the result of apply."""
    root = tmp_path / "root"
    write(os.fsencode(root) + b"/keep", b"payload")
    for raw in ODD_NAMES[:8]:
        write(os.fsencode(root) + b"/sub/" + raw, b"payload")
    plan = make_plan(findings([root]), "symlink")
    script = "\n".join(dry_run_lines(plan))
    subprocess.run(["bash", "-e", "-c", script], check=True)
    for raw in ODD_NAMES[:8]:
        p = os.fsencode(root) + b"/sub/" + raw
        assert os.path.islink(p) and Path(os.fsdecode(p)).read_bytes() == b"payload"
        assert os.readlink(p) == b"../keep"
