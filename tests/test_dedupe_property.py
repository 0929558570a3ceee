"""Issue 11, property: on random trees (duplicates, hard links inside and out of the roots, odd names, odd
modes), with random keep rules, actions, protect predicates and --keep-copies, and sometimes a file edited
between planning and applying, groups found by a brute-force oracle are planned and applied; then:
- the plan changed nothing, and never claimed more space than applying freed (when nothing was skipped);
- every distinct content under the roots is still there, at least min(--keep-copies, copies before) times;
- protected files are byte-identical (same file, mode, mtime);
- nothing outside the roots changed;
- every path under the roots either reads the bytes it had (as a file or through its link), or was deleted
  or moved (and then the quarantine holds those bytes);
- no temporary is left."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from _dedupe import contents_under, findings, snapshot, temporaries
from utilities.dedupe.apply import apply_plan
from utilities.dedupe.journal import MemoryJournal
from utilities.dedupe.keep import KEEP_RULES, parse_keep
from utilities.dedupe.plan import make_plan

FRAGMENTS = [b"a", b"b", b"0", b" ", b"\n", b"'", b'"', b"-", b"\\", b"\xff", b"\xe9", "\u00e9".encode(), b"*"]
CONTENTS = [b"", b"x", b"same content", b"same content!", os.urandom(70_000), b"\0" * 4096]
ACTIONS = ["delete", "hardlink", "symlink", "move"] * 3 + ["reflink"]   # reflink: left out on ext4 and tmpfs
PICK = [2, 2, 2, 3, 3, 4, 4, 1, 0, 5]       # content indexes, weighted so that most trees have duplicates

names = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4).map(b"".join)
rules = st.lists(st.sampled_from([r for r in KEEP_RULES if r != "path"]), unique=True, max_size=3)
spec = st.fixed_dictionaries({
    "dirs": st.lists(st.tuples(st.integers(0, 4), names), max_size=4),            # (parent index, name)
    "files": st.lists(st.tuples(st.integers(0, 7), names, st.sampled_from(PICK),
                                st.sampled_from([0o644, 0o644, 0o600]), st.integers(0, 3)),
                      min_size=3, max_size=12),                                   # (dir, name, content, mode, age)
    "links": st.lists(st.tuples(st.integers(0, 11), st.integers(0, 7), names), max_size=3),
    "outside_links": st.lists(st.integers(0, 11), max_size=2),
    "action": st.sampled_from(ACTIONS),
    "rules": rules,
    "keep_copies": st.integers(1, 3),
    "protect": st.one_of(st.none(), st.sampled_from(FRAGMENTS)),
    "edit": st.one_of(st.none(), st.integers(0, 11)),
})


def build(top: bytes, s: dict) -> list[bytes]:
    """Creates roots r0 and r1 and a folder outside them under top; returns the regular files' paths."""
    dirs = [top + b"/r0", top + b"/r1"]
    for d in [*dirs, top + b"/outside"]:
        os.mkdir(d)
    for parent, name in s["dirs"]:
        d = os.path.join(dirs[parent % len(dirs)], name)
        if not os.path.lexists(d):
            os.mkdir(d)
            dirs.append(d)
    files = []
    for i, (d, name, c, mode, age) in enumerate(s["files"]):
        p = os.path.join(dirs[d % len(dirs)], name + b".%d" % i)    # unique, so most files get made
        if not os.path.lexists(p):
            with open(p, "wb") as f:
                f.write(CONTENTS[c])
            os.chmod(p, mode)
            os.utime(p, ns=(10**18 + age, 10**18 + age))
            files.append(p)
    if not files:                                          # every name was taken by a folder
        return files
    for f, d, name in s["links"]:
        p = os.path.join(dirs[d % len(dirs)], name)
        if not os.path.lexists(p):
            os.link(files[f % len(files)], p)
    for i, f in enumerate(s["outside_links"]):
        os.link(files[f % len(files)], top + b"/outside/link%d" % i)
    with open(top + b"/outside/own", "wb") as f:
        f.write(b"same content")
    os.symlink(b"../r0", top + b"/r1/symlink to r0")
    return files


def keep_rules(drawn: list[str]) -> tuple[str, ...]:
    for a, b in (("oldest", "newest"), ("least-nested", "most-nested")):
        if a in drawn and b in drawn:
            drawn.remove(b)
    return parse_keep(",".join([*drawn, "path"]))


def regular_files(root: bytes) -> dict[bytes, bytes]:
    out = {}
    for d, _, ns in os.walk(root):
        for n in ns:
            p = os.path.join(d, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                out[p] = Path(os.fsdecode(p)).read_bytes()
    return out


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=spec)
def test_applying_any_plan_keeps_every_content_and_touches_nothing_else(s):
    with tempfile.TemporaryDirectory() as t:
        top = os.fsencode(t)
        files = build(top, s)
        assume(files)
        roots = [top + b"/r0", top + b"/r1"]
        q = os.fsdecode(top + b"/quarantine")
        protect = (lambda p: s["protect"] in os.path.basename(os.fsencode(p))) if s["protect"] else None
        before_all = snapshot(t)
        before_files = {r: regular_files(r) for r in roots}
        before_counts = contents_under([os.fsdecode(r) for r in roots])
        outside = snapshot(os.fsdecode(top + b"/outside"), strict=False)

        plan = make_plan(findings([os.fsdecode(r) for r in roots]), s["action"], keep=keep_rules(s["rules"]),
                         keep_copies=s["keep_copies"], protect=protect, move_to=q if s["action"] == "move" else None)
        assert snapshot(t) == before_all                   # planning changed nothing
        edited = None
        if s["edit"] is not None:
            edited = files[s["edit"] % len(files)]
            st0 = os.stat(edited)
            if st0.st_size:
                with open(edited, "r+b") as f:
                    f.write(bytes([Path(os.fsdecode(edited)).read_bytes()[0] ^ 1]))
                os.utime(edited, ns=(st0.st_atime_ns, st0.st_mtime_ns))
                edited_bytes = Path(os.fsdecode(edited)).read_bytes()
                for r in roots:
                    for p in before_files[r]:
                        if os.path.samefile(p, edited):
                            before_files[r][p] = edited_bytes
                before_counts = contents_under([os.fsdecode(r) for r in roots])
                outside = snapshot(os.fsdecode(top + b"/outside"), strict=False)
            else:
                edited = None

        protected = {p: v for r in roots for p, v in before_files[r].items() if protect and protect(os.fsdecode(p))}
        protected_stat = {p: os.lstat(p) for p in protected}
        result = apply_plan(plan, MemoryJournal(), protect=protect)
        event(f"{s['action']}: {'some done' if result.count('done') else 'none done'}")
        event(f"planned: {'none' if not plan.operations else 'some'}; groups: {min(len(plan.groups), 2)}")
        if result.count("skipped"):
            event("some skipped")

        assert result.count("failed") == 0, [r.reason for r in result.results if r.outcome == "failed"]
        assert result.bytes_freed <= plan.bytes_to_free
        if result.count("skipped") == 0:
            assert result.bytes_freed == plan.bytes_to_free
        after_counts = contents_under([os.fsdecode(r) for r in roots])
        for content, n in before_counts.items():
            assert after_counts.get(content, 0) >= min(n, s["keep_copies"]), (content[:20], n)
        for p, data in protected.items():
            st1, st0 = os.lstat(p), protected_stat[p]
            assert Path(os.fsdecode(p)).read_bytes() == data
            assert (st1.st_ino, st1.st_mode, st1.st_mtime_ns) == (st0.st_ino, st0.st_mode, st0.st_mtime_ns)
        assert snapshot(os.fsdecode(top + b"/outside"), strict=False) == outside
        for r in roots:
            for p, data in before_files[r].items():
                if os.path.lexists(p):
                    assert Path(os.fsdecode(p)).read_bytes() == data    # a file, or a link to the same bytes
                else:
                    assert s["action"] in ("delete", "move")
                    if s["action"] == "move":
                        assert Path(q + os.fsdecode(p)).read_bytes() == data
        assert temporaries(t) == []
