"""Issue 11, applying a plan: every check made again right before each change (stat record, bytes), kept
copies and protected files hold, links never cross file systems or owners, replacement is atomic, the
journal says what happened, Ctrl-C stops cleanly, and temporaries of an interrupted run are cleaned up."""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from _dedupe import PAST_NS, contents_under, findings, snapshot, temporaries, write
from utilities.dedupe import apply as apply_mod
from utilities.dedupe.apply import apply_plan
from utilities.dedupe.found import DupeFile, DupeGroup
from utilities.dedupe.journal import MemoryJournal
from utilities.dedupe.leftovers import PREFIX, clean_under, temp_path
from utilities.dedupe.plan import Operation, make_plan
from utilities.dedupe.render import apply_lines
from utilities.errors import Terminated
from utilities.records import Stat

ACTIONS = ["delete", "hardlink", "symlink", "move"]


@pytest.fixture
def shm(tmp_path):
    d = tempfile.mkdtemp(dir="/dev/shm", prefix="dupfinder-test-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def plan_for(tmp_path, action, roots=None, **kw):
    roots = roots or [tmp_path / "r"]
    if action == "move":
        kw.setdefault("move_to", str(tmp_path / "q"))
    return make_plan(findings(roots), action, **kw)


def run(plan, **kw):
    journal = MemoryJournal()
    result = apply_plan(plan, journal, **kw)
    return result, journal


def three(tmp_path, data=b"the same bytes" * 100):
    """r/a (kept), r/b, r/c: one group."""
    return [write(tmp_path / "r" / n, data) for n in "abc"]


def edit_keeping_size_and_mtime(path: str, offset: int = 5) -> None:
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns


def reasons(result):
    return {r.op.path: (r.outcome, r.reason) for r in result.results}


@pytest.mark.parametrize("action", ACTIONS)
def test_apply_does_what_the_plan_says(tmp_path, action):
    a, b, c = three(tmp_path)
    os.chmod(b, 0o600)
    os.chmod(c, 0o600)
    os.chmod(a, 0o600)
    result, journal = run(plan_for(tmp_path, action))
    assert result.count("done") == 2 and result.count("skipped") == result.count("failed") == 0
    data = Path(a).read_bytes()
    for v in (b, c):
        if action in ("delete", "move"):
            assert not os.path.lexists(v)
        else:
            assert Path(v).read_bytes() == data
    if action == "hardlink":
        assert os.stat(b).st_ino == os.stat(a).st_ino == os.stat(c).st_ino
    if action == "symlink":
        assert os.readlink(b) == "a" and os.readlink(c) == "a"
    if action == "move":
        for v in (b, c):
            q = str(tmp_path / "q") + v
            assert Path(q).read_bytes() == data
            assert os.stat(q).st_mtime_ns == PAST_NS and stat.S_IMODE(os.stat(q).st_mode) == 0o600
    freed = 0 if action == "move" else 2 * len(data)      # the quarantine is on the same file system
    assert result.bytes_freed == freed
    assert [(e.action, e.path, e.kept, e.outcome) for e in journal.entries] == [(action, v, a, "done") for v in (b, c)]
    assert all(e.size == len(data) and e.algorithm == "sha256" and e.at > 0 for e in journal.entries)
    assert temporaries(tmp_path) == []


def test_a_file_edited_after_the_scan_with_size_and_mtime_put_back_is_skipped(tmp_path):
    _a, b, c = three(tmp_path)
    plan = plan_for(tmp_path, "delete")
    original = Path(b).read_bytes()
    edit_keeping_size_and_mtime(b)
    edited = Path(b).read_bytes()
    assert edited != original
    result, journal = run(plan)
    outcome, reason = reasons(result)[b]
    assert outcome == "skipped" and reason.startswith("changed since the scan (ctime")
    assert Path(b).read_bytes() == edited                 # untouched
    assert reasons(result)[c] == ("done", "")
    assert [e.outcome for e in journal.entries] == ["skipped", "done"]
    assert journal.entries[0].reason == reason


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("how", ["deleted", "replaced", "edited", "made a symlink"])
def test_the_kept_copy_gone_or_changed_skips_the_group(tmp_path, action, how):
    a, b, c = three(tmp_path)
    write(tmp_path / "r/other1", b"another group")
    write(tmp_path / "r/other2", b"another group")
    plan = plan_for(tmp_path, action)
    assert plan.groups[0].kept == (a,)
    if how == "deleted":
        os.unlink(a)
    elif how == "replaced":                                # same bytes, another file
        shutil.copy2(a, a + ".new")
        os.replace(a + ".new", a)
    elif how == "edited":
        edit_keeping_size_and_mtime(a)
    else:
        os.unlink(a)
        os.symlink("b", a)
    before = {p: Path(p).read_bytes() for p in (b, c)}
    result, _ = run(plan)
    for v in (b, c):
        outcome, reason = reasons(result)[v]
        assert outcome == "skipped" and reason.startswith(f"the kept copy {a}: ")
        assert reason.endswith("; the group is left as is")
        assert Path(v).read_bytes() == before[v] and not os.path.islink(v)
    assert result.count("done") == 1                       # the other group went ahead


@pytest.mark.parametrize("action", ACTIONS)
def test_a_tampered_plan_claiming_one_hash_for_different_files_is_refused_by_the_bytes(tmp_path, action):
    """Two files of one size whose bytes differ (a forged catalog or plan, or an xxh128 collision): the
    byte comparison refuses, and nothing is lost."""
    a = write(tmp_path / "r/a", b"A" * 5000 + b"original")
    b = write(tmp_path / "r/b", b"A" * 5000 + b"imposter")
    write(tmp_path / "r/c", b"different size entirely")
    f = findings([tmp_path / "r"])
    forged = DupeGroup(5008, "0" * 64, tuple(DupeFile(p, Stat.of(os.stat(p)), 0) for p in (a, b)))
    plan = make_plan(f._replace(groups=(forged,)), action, move_to=str(tmp_path / "q") if action == "move" else None)
    before = snapshot(tmp_path / "r")
    result, _ = run(plan)
    (r,) = result.results
    assert r.outcome == "skipped" and r.reason == f"its content differs from the kept copy {a} at byte 5,000"
    assert snapshot(tmp_path / "r") == before
    assert not os.path.exists(tmp_path / "q")


def test_a_change_during_the_comparison_is_caught_by_the_fstat_after_it(tmp_path, monkeypatch):
    _a, b, c = three(tmp_path)
    plan = plan_for(tmp_path, "delete")
    real = apply_mod.first_differences

    def compare_then_edit(ref, fds, size, on_bytes=None):
        out = real(ref, fds, size, on_bytes)
        if len(fds) == 2:                                  # the batch of b and c, not the kept copies
            edit_keeping_size_and_mtime(b, 7)
        return out
    monkeypatch.setattr(apply_mod, "first_differences", compare_then_edit)
    result, _ = run(plan)
    assert reasons(result)[b][0] == "skipped" and "changed since the scan" in reasons(result)[b][1]
    assert os.path.exists(b) and reasons(result)[c][0] == "done"


def test_a_victim_replaced_by_a_symlink_or_a_folder_is_skipped(tmp_path):
    a, b, c = three(tmp_path)
    plan = plan_for(tmp_path, "delete")
    os.unlink(b)
    os.symlink("a", b)
    os.unlink(c)
    os.mkdir(c)
    result, _ = run(plan)
    assert reasons(result)[b] == ("skipped", "replaced by a symbolic link since the scan")
    assert reasons(result)[c][0] == "skipped"
    assert os.path.islink(b) and os.path.isdir(c) and os.path.exists(a)


def test_protected_files_hold_even_when_a_loaded_plan_names_them(tmp_path):
    _a, b, c = three(tmp_path)
    plan = plan_for(tmp_path, "delete")
    before = Path(c).read_bytes(), os.stat(c)
    result, _ = run(plan, protect=lambda p: p.endswith("/c"))
    assert reasons(result)[c] == ("skipped", "protected (--protect)")
    assert Path(c).read_bytes() == before[0] and os.stat(c).st_ino == before[1].st_ino
    assert reasons(result)[b] == ("done", "")


@pytest.mark.parametrize("action", ACTIONS)
def test_keep_copies_holds_and_a_changed_second_copy_stops_the_group(tmp_path, action):
    paths = [write(tmp_path / f"r/f{i}", b"payload" * 50, mtime_ns=PAST_NS + i) for i in range(5)]
    plan = plan_for(tmp_path, action, keep_copies=3)
    result, _ = run(plan)
    assert result.count("done") == 2
    assert contents_under([tmp_path / "r"])[b"payload" * 50] >= 3
    for p in paths[:3]:
        assert Path(p).read_bytes() == b"payload" * 50 and not os.path.islink(p)
    # again, with the second kept copy edited after planning: nothing may happen to the group
    shutil.rmtree(tmp_path / "r")
    shutil.rmtree(tmp_path / "q", ignore_errors=True)
    paths = [write(tmp_path / f"r/f{i}", b"payload" * 50, mtime_ns=PAST_NS + i) for i in range(5)]
    plan = plan_for(tmp_path, action, keep_copies=3)
    edit_keeping_size_and_mtime(paths[1])
    result, _ = run(plan)
    assert result.count("done") == 0 and result.count("skipped") == 2
    assert all(f"the kept copy {paths[1]}: changed since the scan" in r.reason for r in result.results)


def test_hard_links_are_not_made_between_different_owners_or_modes(tmp_path):
    a = write(tmp_path / "r/a", b"data", mode=0o644)
    b = write(tmp_path / "r/b", b"data", mode=0o600)
    c = write(tmp_path / "r/c", b"data", mode=0o644)
    d = write(tmp_path / "r/d", b"data", mode=0o644)
    os.chown(c, 65534, 65534)
    os.utime(c, ns=(PAST_NS, PAST_NS))
    result, _ = run(plan_for(tmp_path, "hardlink"))
    r = reasons(result)
    assert r[b] == ("skipped", "mode differs from the kept copy's (0600 against 0644): a hard link would change it")
    assert r[c][0] == "skipped" and r[c][1].startswith("owner differs from the kept copy's (65534:65534 against 0:0)")
    assert r[d] == ("done", "")
    assert os.stat(b).st_ino != os.stat(a).st_ino and os.stat(c).st_uid == 65534


def test_links_never_cross_file_systems_even_in_an_edited_plan(tmp_path, shm):
    a = write(tmp_path / "r/a", b"data")
    b = write(shm / "b", b"data")
    for action in ("hardlink", "reflink"):
        plan = make_plan(findings([tmp_path / "r", shm]), action, no_clones=lambda dev: None)
        assert plan.operations == 0                       # the planner leaves it out ...
        g = plan.groups[0]
        forced = g._replace(ops=(Operation(action, b, a, None, 4, ""),), left=())
        result, _ = run(plan._replace(groups=(forced,)))    # ... and apply refuses a plan that has it
        assert reasons(result)[b] == ("skipped", f"on another file system than the kept copy: a {action} "
                                                 "cannot cross file systems")
        assert os.stat(b).st_nlink == 1 and Path(b).read_bytes() == b"data"


def test_symlinks_across_file_systems_are_relative_and_resolve(tmp_path, shm):
    a = write(tmp_path / "r/a", b"data")
    b = write(shm / "sub/b", b"data")
    result, _ = run(make_plan(findings([tmp_path / "r", shm]), "symlink"))
    assert reasons(result)[b] == ("done", "")
    assert not os.readlink(b).startswith("/") and os.path.samefile(b, a)


def test_symlinks_reach_the_kept_copy_through_a_root_that_is_a_symlink(tmp_path):
    a = write(tmp_path / "real/a", b"data")
    write(tmp_path / "real/sub/b", b"data")
    os.symlink("real/sub", tmp_path / "alias")            # a root reached through a symbolic link
    plan = make_plan(findings([tmp_path / "real/a", tmp_path / "alias"]), "symlink")
    (op,) = plan.groups[0].ops
    assert op.path == str(tmp_path / "alias/b")            # ../real/a from alias/ would miss: real/real/a
    result, _ = run(plan)
    assert reasons(result)[op.path] == ("done", "")
    assert os.readlink(op.path) == "../a" and os.path.samefile(op.path, a)


def test_reflink_on_a_file_system_without_clones_skips_with_the_reason(tmp_path, shm):
    for root in (tmp_path / "r", shm / "r"):              # ext4 and tmpfs
        a = write(root / "a", b"data" * 1000)
        b = write(root / "b", b"data" * 1000)
        plan = make_plan(findings([root]), "reflink", no_clones=lambda dev: None)   # make it try
        result, _ = run(plan)
        outcome, reason = reasons(result)[b]
        assert outcome == "skipped" and reason == "the file system cannot clone files (EOPNOTSUPP)"
        assert os.stat(b).st_ino != os.stat(a).st_ino and temporaries(root) == []


def test_reflink_failures_on_one_device_are_learned_without_reading_more(tmp_path):
    for i in range(3):
        write(tmp_path / f"r/g{i}/a", b"group %d" % i * 1000)
        write(tmp_path / f"r/g{i}/b", b"group %d" % i * 1000)
    plan = make_plan(findings([tmp_path / "r"]), "reflink", no_clones=lambda dev: None)
    result, _ = run(plan)
    assert result.count("skipped") == 3
    assert result.bytes_verified == 2 * 7000             # only the first group was read


def test_hard_linked_victims_are_handled_with_all_names_and_freed_once(tmp_path):
    a, b, _ = three(tmp_path)
    os.link(b, tmp_path / "r/b2")
    result, _ = run(plan_for(tmp_path, "hardlink"))
    assert result.count("done") == 3
    assert [r.freed for r in result.results if r.op.path.startswith(b)] == [0, 1400]
    assert result.bytes_freed == 2 * 1400
    assert os.stat(a).st_nlink == 4


def test_a_victim_with_a_name_outside_the_roots_frees_nothing_and_says_so(tmp_path):
    a, b, _ = three(tmp_path)
    os.link(b, tmp_path / "outside")
    plan = plan_for(tmp_path, "delete")
    assert plan.bytes_to_free == 1400
    result, _ = run(plan)
    assert result.count("done") == 2
    assert reasons(result)[b] == ("done", "") and result.bytes_freed == 1400   # only c's space came back
    assert Path(tmp_path / "outside").read_bytes() == Path(a).read_bytes()


def test_replacement_is_atomic_the_path_never_goes_missing(tmp_path):
    data = b"x" * 10
    kept = write(tmp_path / "r/000", data)
    victims = [write(tmp_path / f"r/v{i:04d}", data) for i in range(400)]
    plan = plan_for(tmp_path, "hardlink")
    missing: list[str] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for v in victims:
                if not os.path.lexists(v):
                    missing.append(v)
    t = threading.Thread(target=watch)
    t.start()
    try:
        result, _ = run(plan)
    finally:
        stop.set()
        t.join()
    assert result.count("done") == 400 and missing == []
    assert all(os.stat(v).st_ino == os.stat(kept).st_ino for v in victims)


def test_progress_counts_every_byte_compared(tmp_path):
    three(tmp_path, b"z" * 3_000_000)
    seen = []
    result, _ = run(plan_for(tmp_path, "delete"), on_bytes=seen.append)
    assert sum(seen) == result.bytes_verified == 3 * 3_000_000    # the kept copy read once for both


def test_a_failure_is_reported_and_the_run_goes_on(tmp_path):
    a, _b, _c = three(tmp_path)
    (tmp_path / "r/sub").mkdir()
    d = write(tmp_path / "r/sub/d", Path(a).read_bytes())
    plan = plan_for(tmp_path, "symlink")
    os.chmod(tmp_path / "r/sub", 0o500)                   # root ignores this: use an immutable folder instead
    try:
        subprocess.run(["chattr", "+i", str(tmp_path / "r/sub")], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("chattr +i not available here")
    try:
        result, journal = run(plan)
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "r/sub")], check=True)
        os.chmod(tmp_path / "r/sub", 0o700)
    assert reasons(result)[d] == ("failed", "PermissionError: Operation not permitted")
    assert journal.entries[-1].outcome == "failed"
    assert Path(d).read_bytes() == Path(a).read_bytes() and not os.path.islink(d)
    assert result.count("done") == 2
    assert "failed: ln -sf -- ../a " + d + "  # PermissionError: Operation not permitted" in list(apply_lines(result))


def test_ctrl_c_stops_after_the_changes_under_way(tmp_path, monkeypatch):
    """Ctrl-C is held back while a batch of changes and their journal entries are made, then stops the run:
    every change made is journaled as done, none is half-way, and the rest is not attempted."""
    files = {write(tmp_path / f"r/g{g}/{i}", b"group %d" % g): b"group %d" % g for g in range(5) for i in range(3)}
    plan = plan_for(tmp_path, "hardlink")
    journal = MemoryJournal()
    real = journal.record

    def record(entry):
        if len(journal.entries) == 1:        # the 2nd change is under way: Ctrl-C now
            signal.raise_signal(signal.SIGINT)
        return real(entry)
    monkeypatch.setattr(journal, "record", record)
    result = apply_plan(plan, journal)
    assert result.interrupted and result.count("done") == 2 and result.not_attempted == 8
    assert [e.outcome for e in journal.entries] == ["done", "done"]   # the batch finished and was settled
    for p, data in files.items():
        assert Path(p).read_bytes() == data
    assert temporaries(tmp_path) == []
    assert list(apply_lines(result))[-1].startswith("# interrupted: 8 operations not attempted")


def test_sigterm_stops_like_ctrl_c_and_stays_a_sigterm(tmp_path, monkeypatch):
    """SIGTERM (cli.py turns it into Terminated) stops the run as Ctrl-C does, and the result keeps the
    Terminated itself, so that the command exits 143, not Ctrl-C's 130."""
    for g in range(5):
        for i in range(3):
            write(tmp_path / f"r/g{g}/{i}", b"group %d" % g)
    plan = plan_for(tmp_path, "hardlink")
    journal = MemoryJournal()
    real = journal.record

    def record(entry):
        if len(journal.entries) == 1:
            signal.raise_signal(signal.SIGTERM)
        return real(entry)

    def on_sigterm(signum, frame):
        raise Terminated()
    monkeypatch.setattr(journal, "record", record)
    old = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        result = apply_plan(plan, journal)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert isinstance(result.stopped_by, Terminated) and result.interrupted
    assert result.count("done") == 2 and result.not_attempted == 8


def test_leftover_temporaries_of_a_dead_run_are_removed_first(tmp_path):
    a, _b, _c = three(tmp_path)
    dead = 2**22 + 12345                                   # above pid_max's default: never a live process
    ours = [str(tmp_path / f"r/{PREFIX}{dead}-0123abcd-{i}") for i in range(2)]
    os.link(a, ours[0])                                    # an interrupted hard link
    os.symlink("a", ours[1])                               # an interrupted symbolic link
    live = temp_path(str(tmp_path / "r"))                  # one of a running process (this one)
    write(live, b"in use")
    not_ours = [write(tmp_path / f"r/{PREFIX}something-else", b"x"), write(tmp_path / "r/.dupfinder-tmp", b"y")]
    result, _ = run(plan_for(tmp_path, "delete", roots=None))
    removed = sorted(x.path for x in result.leftovers if x.removed)
    assert removed == sorted(ours)
    kept = [x for x in result.leftovers if not x.removed]
    assert [x.path for x in kept] == [live] and "still running" in kept[0].reason
    assert all(os.path.exists(p) for p in [*not_ours, live])
    lines = list(apply_lines(result))
    assert sum("removed a temporary" in line for line in lines) == 2


def test_clean_under_finds_leftovers_anywhere_below_the_roots(tmp_path):
    write(tmp_path / "r/deep/er/x", b"x")
    t = str(tmp_path / f"r/deep/er/{PREFIX}{2**22 + 1}-deadbeef-0")
    os.symlink("x", t)
    found = clean_under([str(tmp_path / "r")])
    assert [(x.path, x.kind, x.removed) for x in found] == [(t, "symbolic link", True)]
    assert not os.path.lexists(t)


def test_apply_output_lists_each_skip_with_its_reason(tmp_path):
    _a, b, c = three(tmp_path)
    plan = plan_for(tmp_path, "delete")
    edit_keeping_size_and_mtime(c)
    result, _ = run(plan)
    lines = list(apply_lines(result))
    assert lines[0] == f"done: rm -- {b}  # freed 1.4 KiB"
    assert lines[1].startswith(f"skipped: rm -- {c}  # changed since the scan (ctime")
    assert lines[-1] == "# applied: 1 done, 1 skipped, 0 failed; freed 1.4 KiB (1,400 bytes); compared 2.7 KiB"


@pytest.mark.parametrize("action", ACTIONS)
def test_result_stats_describe_every_path_the_run_changed(tmp_path, action):
    """ApplyResult.stats gives the catalog the new stat record of every path whose record the run changed
    (kept files included: new links move their ctime), so that a rescan can trust every row and read nothing."""
    for g in range(3):
        for i in range(3):
            write(tmp_path / f"r/g{g}/{i}", b"group %d" % g * 100)
    os.link(tmp_path / "r/g0/1", tmp_path / "r/g0/1-second-name")
    os.link(tmp_path / "r/g1/2", tmp_path / "r/g1/2-outside-the-plan")
    plan = plan_for(tmp_path, action)
    ops = [op for g in plan.groups for op in g.ops if not op.path.endswith("2-outside-the-plan")]
    plan = plan._replace(groups=tuple(g._replace(ops=tuple(op for op in g.ops if op in ops)) for g in plan.groups))

    def records():
        out = {}
        for d, _, names in os.walk(tmp_path / "r"):
            for n in names:
                st = os.lstat(os.path.join(d, n))
                out[os.path.join(d, n)] = Stat.of(st) if stat.S_ISREG(st.st_mode) else None
        return out
    before = records()
    result, _ = run(plan)
    assert result.count("done") == len(ops)
    after = records()
    changed = {p for p in before if after.get(p) != before[p]}
    assert changed <= set(result.stats)
    for p, st in result.stats.items():
        assert after.get(p) == st, p
    assert result.stats[str(tmp_path / "r/g1/2-outside-the-plan")] is not None   # its file lost a name


def test_hardlinks_go_to_a_kept_copy_on_their_own_file_system(tmp_path, shm):
    k1 = write(tmp_path / "r/k1", b"data" * 10)
    k2 = write(shm / "k2", b"data" * 10)
    v = write(shm / "v", b"data" * 10)
    result, _ = run(make_plan(findings([tmp_path / "r", shm]), "hardlink", keep_copies=2))
    assert reasons(result)[v] == ("done", "")
    assert os.path.samefile(v, k2) and not os.path.samefile(k1, k2)
