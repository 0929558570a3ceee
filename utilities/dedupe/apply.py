"""Applying a plan: every check made again right before each change, the change, and its journal entry.

Per group: the kept copies are opened and checked against the plan's stat records, and compared byte for
byte with the first (the primary); if one is gone, changed or different, the group is left as is. Then the
redundant files, a batch at a time: each is opened (O_NOFOLLOW) and checked, all are compared with the
primary in one lock-step read, and each operation runs only after fstat shows that neither the file nor
its kept copy changed since (ctime included: any write or chmod moves it) and lstat shows that the path
still names the file compared. A hash never decides. The time between those last checks and the
rename or unlink is a few system calls; see replace.py for what can still happen in it.

Ctrl-C (or SIGTERM) is held back while the changes of one batch and their journal entries are made, then
stops the run: ApplyResult.interrupted. A kill -9 leaves every original path in place (replace.py), and the
journal with every change made: those of the last batch or two still "started" (journal.py);
leftovers.clean_folders, run at the start of the next apply, removes temporaries.
"""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from ..errors import describe_os_error
from ..records import Stat
from . import quarantine, replace
from .compare import OnBytes, Skip, check_fd, first_differences, open_checked
from .journal import Journal, JournalEntry, Outcome
from .leftovers import Leftover, clean_folders
from .plan import GroupPlan, Operation, Plan, PlanFile, Protect
from .quoting import shell_quote

MAX_OPEN = 32                 # redundant files opened and compared in one lock-step pass


@dataclass(frozen=True)
class OpResult:
    op: Operation
    outcome: Outcome          # "done", "skipped" or "failed"
    reason: str = ""          # why skipped or failed
    freed: int = 0            # bytes this operation freed (the file's last name went, and no process holds it)
    journal_id: int = 0


@dataclass
class ApplyResult:
    results: list[OpResult] = field(default_factory=list)     # in plan order (the journal has time order)
    leftovers: list[Leftover] = field(default_factory=list)   # temporaries of earlier runs, found first
    bytes_verified: int = 0   # bytes read to compare
    stopped_by: KeyboardInterrupt | None = None   # Ctrl-C or SIGTERM (errors.Terminated), raised again by the caller
    not_attempted: int = 0    # operations not reached because of the interruption
    # For the catalog: every path whose stat record this run changed -> its new record, as this run's own
    # fstat calls saw it right after its changes (its content is still its group's), or None where the path
    # no longer names a regular file (deleted, moved, now a symbolic link). Kept files are in it too: a new
    # hard link or a rename moves their ctime. With these rows updated, a rescan reads nothing again.
    stats: dict[str, Stat | None] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def bytes_freed(self) -> int:
        return sum(r.freed for r in self.results)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Holds back SIGINT and SIGTERM (delivered on leaving), so one change and its journal entry are
    made whole. Only the main thread receives Python's signals, so elsewhere there is nothing to hold."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _Run:
    def __init__(self, plan: Plan, journal: Journal, protect: Protect | None, on_bytes: OnBytes | None) -> None:
        self.plan, self.journal, self.protect, self.on_bytes = plan, journal, protect, on_bytes
        self.result = ApplyResult()
        self.expected: dict[tuple[int, int], Stat] = {}   # as the plan says, or as our own changes left it
        self.no_clone: dict[int, str] = {}                # device -> why it cannot clone
        self.now: dict[str, tuple[int, int] | None] = {}   # path changed by us -> the inode it names, or None
        self.clones: dict[str, Stat] = {}                  # reflinked path -> the clone's stat record
        self.memo: quarantine.Memo = {}

    # ------------------------------------------------------------------------------------ bookkeeping
    def verified(self, n: int) -> None:
        self.result.bytes_verified += n
        if self.on_bytes is not None:
            self.on_bytes(n)

    def expect(self, f: PlanFile) -> Stat:
        return self.expected.get((f.stat.device, f.stat.inode), f.stat)

    def refresh(self, f: PlanFile, fd: int) -> os.stat_result:
        """After our own change to f (a name added or removed moves its ctime), expects its new stat record,
        provided its size and mtime, the marks of a write, did not move; returns its fstat."""
        st = os.fstat(fd)
        old, now = self.expect(f), Stat.of(st)
        if now._replace(ctime_ns=old.ctime_ns) == old:
            self.expected[(f.stat.device, f.stat.inode)] = now
        return st

    def collect_stats(self) -> None:
        """Fills ApplyResult.stats from what each changed path names now (self.now)."""
        for path, key in self.now.items():
            if key is None:
                self.result.stats[path] = None
            elif path in self.clones:
                self.result.stats[path] = self.clones[path]
            else:
                self.result.stats[path] = self.expected.get(key)

    def entry(self, g: GroupPlan, op: Operation, outcome: Outcome, reason: str = "") -> JournalEntry:
        return JournalEntry(op.action, op.path, op.kept, g.size, g.digest, self.plan.algorithm, outcome, reason,
                            op.dest)

    def skip(self, g: GroupPlan, ops: Sequence[Operation], reason: str) -> None:
        for op in ops:
            jid = self.journal.record(self.entry(g, op, "skipped", reason))
            self.result.results.append(OpResult(op, "skipped", reason, 0, jid))

    # ---------------------------------------------------------------------------------------- groups
    def group(self, g: GroupPlan) -> None:
        if not g.ops:
            return
        if len(g.kept) < self.plan.keep_copies:
            self.skip(g, g.ops, f"the plan keeps {len(g.kept)} copies, fewer than --keep-copies "
                                f"{self.plan.keep_copies}: the group is left as is")
            return
        named = {n: f for f in g.files for n in f.names}
        by_file: dict[str, list[Operation]] = {}
        for op in g.ops:
            by_file.setdefault(named[op.path].path, []).append(op)
        todo = [(named[p], ops) for p, ops in by_file.items()]
        with ExitStack() as stack:
            kept: dict[str, tuple[int, os.stat_result]] = {}
            for p in g.kept:
                try:
                    fd, st = open_checked(p, self.expect(named[p]))
                except Skip as e:
                    self.skip(g, g.ops, f"the kept copy {shell_quote(p)}: {e}; the group is left as is")
                    return
                stack.callback(os.close, fd)
                kept[p] = (fd, st)
            primary = kept[g.kept[0]][0]
            others = list(g.kept[1:])
            diffs = first_differences(primary, [kept[p][0] for p in others], g.size, self.verified)
            for p, d in zip(others, diffs, strict=True):
                if d is not None:
                    self.skip(g, g.ops, f"the kept copy {shell_quote(p)}: differs from {shell_quote(g.kept[0])} "
                                        f"at byte {d:,}; the group is left as is")
                    return
            state = _GroupState(g, named, kept)
            for i in range(0, len(todo), MAX_OPEN):
                self.batch(state, todo[i:i + MAX_OPEN])

    def batch(self, s: _GroupState, todo: Sequence[tuple[PlanFile, list[Operation]]]) -> None:
        g = s.group
        with ExitStack() as stack:
            opened: list[tuple[PlanFile, list[Operation], int]] = []
            for f, ops in todo:
                if s.broken:
                    self.skip(g, ops, s.broken)
                    continue
                if all(op.action == "reflink" for op in ops) and f.stat.device in self.no_clone:
                    self.skip(g, ops, self.no_clone[f.stat.device])    # known without reading the file
                    continue
                try:
                    fd, _ = open_checked(ops[0].path, self.expect(f))
                except Skip as e:
                    self.skip(g, ops, str(e))
                    continue
                stack.callback(os.close, fd)     # the last close of a file with no name left frees it
                opened.append((f, ops, fd))
            diffs = first_differences(s.kept[g.kept[0]][0], [fd for _, _, fd in opened], g.size, self.verified)
            # Ctrl-C and SIGTERM wait until this batch's changes and their journal entries are made
            # (milliseconds; held per batch rather than per change: two system calls fewer a file)
            with _signals_held():
                ready = [(f, op, fd, jid) for (f, ops, fd), diff in zip(opened, diffs, strict=True) for op in ops
                         if (jid := self.prepare(s, f, op, fd, diff))]
                # the "started" entries are stored before any change is made; the outcomes of this batch wait
                # for the next batch's flush (or the end): one commit a batch, and a kill -9 in between leaves
                # them "started", as one in the middle of a batch would
                self.journal.flush()
                for f, op, fd, jid in ready:
                    self.one(s, f, op, fd, jid)

    def checked(self, s: _GroupState, f: PlanFile, op: Operation, fd: int) -> tuple[os.stat_result, os.stat_result]:
        """Returns the fstat of op's file and of its kept copy after checking both are as the plan (or our
        own earlier changes) left them; raises Skip, and marks the group broken if a kept copy changed."""
        g = s.group
        if s.broken:
            raise Skip(s.broken)
        kst = None
        for p in dict.fromkeys((g.kept[0], op.kept)):
            try:
                kst = check_fd(s.kept[p][0], self.expect(s.named[p]))
            except Skip as e:
                s.broken = f"the kept copy {shell_quote(p)}: {e}; the rest of the group is left as is"
                raise Skip(s.broken) from None
        assert kst is not None            # the stat of op.kept, checked last
        vst = check_fd(fd, self.expect(f))
        problem = replace.precheck(op.action, vst, kst)
        if problem:
            raise Skip(problem)
        return vst, kst

    def prepare(self, s: _GroupState, f: PlanFile, op: Operation, fd: int, diff: int | None) -> int:
        """Checks op; records it as skipped and returns 0, or records it as started and returns its entry."""
        g = s.group
        if self.protect is not None and any(map(self.protect, f.names)):
            self.skip(g, [op], "protected (--protect)")
            return 0
        if diff is not None:
            self.skip(g, [op], f"its content differs from the kept copy {shell_quote(g.kept[0])} at byte {diff:,}")
            return 0
        try:
            self.checked(s, f, op, fd)
        except Skip as e:
            self.skip(g, [op], str(e))
            return 0
        return self.journal.record(self.entry(g, op, "started"))

    def one(self, s: _GroupState, f: PlanFile, op: Operation, fd: int, jid: int) -> None:
        """Makes the change of op, recorded as started, once both files are checked again (an earlier change
        of this batch may have moved their ctime, or something else may have touched them)."""
        g = s.group
        kfd = s.kept[op.kept][0]
        try:
            vst, kst = self.checked(s, f, op, fd)
        except Skip as e:
            self.journal.settle(jid, "skipped", str(e))
            self.result.results.append(OpResult(op, "skipped", str(e), 0, jid))
            return None
        try:
            moved = self.act(s, f, op, fd, vst, kfd, kst)
        except Skip as e:
            if isinstance(e, replace.CannotClone):
                self.no_clone[vst.st_dev] = str(e)
            self.journal.settle(jid, "skipped", str(e))
            self.result.results.append(OpResult(op, "skipped", str(e), 0, jid))
            return None
        except OSError as e:
            reason = describe_os_error(e)
            self.journal.settle(jid, "failed", reason)
            self.result.results.append(OpResult(op, "failed", reason, 0, jid))
            return None
        self.journal.settle(jid, "done", "", Stat.of(moved) if moved is not None and op.action == "move" else None)
        now = self.refresh(f, fd)
        k = s.named[op.kept]
        kkey = (k.stat.device, k.stat.inode)
        self.now[op.path] = kkey if op.action in ("hardlink", "reflink") else None
        for n in f.names:             # its other names: the file lost a name, so its ctime moved
            self.now.setdefault(n, (f.stat.device, f.stat.inode))
        if op.action in ("hardlink", "reflink"):      # a new name (or a clone) of the kept copy
            self.refresh(k, kfd)
            for n in k.names:
                self.now.setdefault(n, kkey)
        if op.action == "reflink":
            if moved is not None:
                self.clones[op.path] = Stat.of(moved)
            else:
                del self.now[op.path]             # something else is there already: not ours to describe
        self.result.results.append(OpResult(op, "done", "", g.size if now.st_nlink == 0 else 0, jid))
        return None

    def act(self, s: _GroupState, f: PlanFile, op: Operation, fd: int, vst: os.stat_result, kfd: int,
            kst: os.stat_result) -> os.stat_result | None:
        """Does op; returns the quarantined file's lstat for a move, the clone's for a reflink, else None."""
        if op.action == "delete":
            replace.remove(op.path, vst)
        elif op.action == "hardlink":
            replace.hardlink_over(op.kept, kst, op.path, vst)
        elif op.action == "symlink":
            replace.symlink_over(op.kept, kst, op.path, vst)
        elif op.action == "reflink":
            return replace.clone_over(kfd, kst, op.path, vst)
        elif op.action == "move" and op.dest is not None:
            def still() -> None:
                check_fd(fd, self.expect(f))
                check_fd(kfd, self.expect(s.named[op.kept]), "the kept copy: ")
            return quarantine.move_into(op.path, fd, vst, op.dest, self.memo, still, self.verified)
        else:
            raise Skip(f"unknown action {op.action!r}")
        return None


@dataclass
class _GroupState:
    group: GroupPlan
    named: dict[str, PlanFile]                       # every name in the group -> its file
    kept: dict[str, tuple[int, os.stat_result]]      # kept path -> (open fd, fstat when opened)
    broken: str = ""                                 # set when a kept copy changed: the rest is skipped


def temp_folders(plan: Plan) -> set[str]:
    """Returns the folders where applying plan makes temporaries (and where leftovers may be)."""
    out = set()
    for g in plan.groups:
        for op in g.ops:
            out.add(os.path.dirname(op.path))
            if op.dest:
                out.add(os.path.dirname(op.dest))
    return out


def apply_plan(plan: Plan, journal: Journal, *, protect: Protect | None = None, on_bytes: OnBytes | None = None,
               clean: bool = True) -> ApplyResult:
    """Carries out plan, checking everything again; returns what was done, skipped (why) and failed.

    journal: records every operation (journal.Journal). protect: path -> never touched, applied again here
    (for a plan loaded from a file). on_bytes(n): n more bytes were read to compare (a progress bar).
    clean: first remove the temporaries an interrupted earlier run left in the plan's folders
    (ApplyResult.leftovers). Ctrl-C stops after the operation under way: ApplyResult.interrupted.
    """
    run = _Run(plan, journal, protect, on_bytes)
    try:
        if clean:
            run.result.leftovers = clean_folders(temp_folders(plan))
        for g in plan.groups:
            run.group(g)
    except KeyboardInterrupt as stop:
        run.result.stopped_by = stop
        run.result.not_attempted = plan.operations - len(run.result.results)
    finally:
        journal.flush()                  # the last batch's outcomes
    run.collect_stats()
    # in plan order (a batch settles its early skips before the changes), as people read it
    order = {op.path: i for i, op in enumerate(op for g in plan.groups for op in g.ops)}
    run.result.results.sort(key=lambda r: order[r.op.path])
    return run.result
