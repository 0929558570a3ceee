"""Acting on duplicates from the command line (cli-contract.md, "Acting on duplicates"): the plan made from a
scan's groups, shown (a dry run) or written (--plan), carried out (--apply, --apply-plan) with its journal in
the catalog and the catalog's rows brought up to date; and --undo-move."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from . import progress
from .catalog import Catalog
from .dedupe.apply import ApplyResult, apply_plan
from .dedupe.catalog_journal import CatalogJournal, mark_undone, moves_to_undo, update_catalog
from .dedupe.found import DupeFile, DupeGroup, Findings
from .dedupe.journal import JournalEntry
from .dedupe.leftovers import clean_under
from .dedupe.plan import Plan, PlanError, make_plan
from .dedupe.planfile import load_plan, write_plan
from .dedupe.quarantine import undo_moves
from .dedupe.quoting import shell_quote
from .dedupe.render import apply_lines, dry_run_lines
from .errors import EXIT_OK, ConfigError
from .paths import is_under
from .patterns import PathMatcher
from .report import ActionMarks, Group


def findings_of(groups: Sequence[Group], given: Sequence[str], algorithm: str) -> Findings:
    """Returns a scan's groups as planning takes them. given: the roots in command-line order, for the
    rule first-root (a file belongs to the first given root it lies under)."""
    roots = tuple(os.path.abspath(r) for r in given)

    def root_of(path: str) -> int:
        return next((k for k, r in enumerate(roots) if is_under(path, r)), 0)
    # With --catalog a group also lists copies elsewhere (other hosts, this host outside the roots): planning
    # sees only this walk's files of each group, so a copy elsewhere is never the only one kept.
    local = [(g, g.local_paths) for g in groups]
    return Findings(roots, algorithm, tuple(
        DupeGroup(g.size, g.digest, tuple(DupeFile(p, st, root_of(p), tuple(g.hard_links.get(p, ())))
                                          for p, st in zip(paths, g.stats, strict=True)))
        for g, paths in local if len(paths) > 1))


def protect_matcher(patterns: Sequence[str], roots: Sequence[str]) -> PathMatcher | None:
    """The --protect patterns, compiled as --exclude's are (patterns.py); warnings go to stderr."""
    if not patterns:
        return None
    matcher = PathMatcher.compile(patterns, roots, "--protect")
    for warning in matcher.warnings:
        print(warning, file=sys.stderr)
    return matcher


def clean_leftovers(roots: Sequence[str], out: TextIO) -> None:
    """Removes the temporaries an interrupted apply left under roots (before a scan that may act, so that
    none is taken for a duplicate) and says so."""
    for left in clean_under(roots):
        what = "removed" if left.removed else f"left alone ({left.reason})"
        print(f"# {what}: a temporary {left.kind} of an interrupted apply: {shell_quote(left.path)}", file=out)


def act(args: argparse.Namespace, catalog: Catalog, roots: Sequence[str], groups: Sequence[Group],
        algorithm: str) -> ActionMarks:
    """Plans --action on a scan's groups; writes --plan, prints the dry run or applies it; returns what the
    report marks. Raises ConfigError for a plan that cannot be made."""
    findings = findings_of(groups, args.paths, algorithm)
    protect = protect_matcher(args.protect, roots)
    try:
        plan = make_plan(findings, args.action, keep=args.keep, keep_copies=args.keep_copies,
                         protect=protect.matches_path if protect else None, move_to=args.move_to)
    except PlanError as e:
        raise ConfigError(str(e)) from None
    out = _output(args)
    if args.plan:
        write_plan(args.plan, plan)
    if not args.apply:
        _print(dry_run_lines(plan), out)      # the plan is what a dry run is for: printed even with -q
        return marks_of_plan(plan, args.action)
    result = _apply(plan, catalog, protect, out, args.quiet)
    return marks_of_result(plan, args.action, result)


def apply_plan_file(args: argparse.Namespace, catalog: Catalog) -> int:
    """--apply-plan PATH: carries out a plan written earlier, every check made again; returns the exit code."""
    try:
        plan = load_plan(args.apply_plan)
    except PlanError as e:
        raise ConfigError(str(e)) from None
    protect = protect_matcher(args.protect, plan.roots)
    _apply(plan, catalog, protect, _output(args), args.quiet)
    return EXIT_OK


def undo(args: argparse.Namespace, catalog: Catalog) -> int:
    """--undo-move ID|all: puts moved files back from the quarantine; returns the exit code."""
    entries = moves_to_undo(catalog, args.undo_move)
    if not entries:
        which = "no move of" if args.undo_move == "all" else f"no move with journal id {args.undo_move} for"
        raise ConfigError(f"{which} host {catalog.host} is left to undo (see the journal, table dedupe_actions)")
    out = _output(args)
    restored: list[int] = []
    by_quarantine: dict[str, list[JournalEntry]] = {}
    for e in entries:
        assert e.moved_to is not None
        by_quarantine.setdefault(e.moved_to[: len(e.moved_to) - len(e.path.lstrip("/"))].rstrip("/"), []).append(e)
    for quarantine, group in by_quarantine.items():
        for entry, why in undo_moves(group, prune_to=quarantine):
            if why:
                print(f"skipped: {shell_quote(entry.path)}  # journal {entry.id}: {why}", file=out)
            else:
                restored.append(entry.id)
                if not args.quiet:
                    print(f"restored: {shell_quote(entry.path)}  # journal {entry.id}, from "
                          f"{shell_quote(entry.moved_to or '')}", file=out)
    mark_undone(catalog, restored)
    if not args.quiet:
        print(f"# undo: {len(restored):,} of {len(entries):,} moved files put back", file=out)
    return EXIT_OK


def _apply(plan: Plan, catalog: Catalog, protect: PathMatcher | None, out: TextIO, quiet: bool) -> ApplyResult:
    journal = CatalogJournal(catalog)
    to_compare = sum(g.size * len(g.files) for g in plan.groups if g.ops)
    with progress.stage_bar("applying: bytes compared", total=to_compare, unit="B") as bar:
        def compared(n: int) -> None:
            bar.update(n)
        try:
            result = apply_plan(plan, journal, protect=protect.matches_path if protect else None,
                                on_bytes=compared)
        finally:
            journal.flush()             # whatever happened, the journal keeps what was done
    update_catalog(catalog, result.stats)
    lines = list(apply_lines(result))
    if quiet:           # -q: what went wrong, and the totals
        lines = [ln for ln in lines if ln.startswith(("skipped:", "failed:", "# applied:", "# interrupted:"))]
    _print(lines, out)
    moved = [r.journal_id for r in result.results if r.outcome == "done" and r.op.action == "move"]
    if moved and not quiet:
        ids = journal.ids((min(moved), max(moved)))
        first, last = ids[min(moved)], ids[max(moved)]
        print(f"# journal entries {first}-{last} record the moves: --undo-move ID puts one file back, "
              "--undo-move all puts back every move of this host", file=out)
    if result.stopped_by is not None:
        raise result.stopped_by          # SIGTERM stays Terminated (exit 143), Ctrl-C KeyboardInterrupt (130)
    return result


def _output(args: argparse.Namespace) -> TextIO:
    """Where the plan's lines go: stdout, unless an export or the plan itself is written there."""
    taken = "-" in (args.json, args.csv, args.plan)
    return sys.stderr if taken else sys.stdout


def _print(lines: Iterable[str], out: TextIO) -> None:
    for line in lines:
        print(line, file=out)
    out.flush()


def marks_of_plan(plan: Plan, action: str) -> ActionMarks:
    """What the report shows of a dry run: the kept copy, and what would be done to each other name."""
    marks: dict[str, str] = {}
    for g in plan.groups:
        for p in g.kept:
            marks[p] = "kept"
        for p in g.protected:
            marks[p] = "kept (protected)"
        for op in g.ops:
            marks[op.path] = f"would {_verb(op.action)}" + (f": {op.note}" if op.note else "")
        for left in g.left:
            marks[left.path] = f"left as is: {left.reason}"
    return ActionMarks(f"--action {action}, dry run", "the plan would free", plan.bytes_to_free, marks,
                       f"{plan.operations:,} operations planned; nothing was changed (--apply does it)")


def marks_of_result(plan: Plan, action: str, result: ApplyResult) -> ActionMarks:
    """What the report shows of an apply: the kept copy, and what was done to each other name, or why not."""
    marks = marks_of_plan(plan, action).marks
    for r in result.results:
        marks[r.op.path] = _verb(r.op.action, done=True) if r.outcome == "done" else f"{r.outcome}: {r.reason}"
    return ActionMarks(f"--action {action}, applied", "freed", result.bytes_freed, marks,
                       f"{result.count('done'):,} done, {result.count('skipped'):,} skipped, "
                       f"{result.count('failed'):,} failed")


def _verb(action: str, done: bool = False) -> str:
    verbs = {"delete": ("be deleted", "deleted"), "hardlink": ("become a hard link to the kept copy", "hard-linked"),
             "symlink": ("become a symbolic link to the kept copy", "symlinked"),
             "reflink": ("become a clone of the kept copy", "cloned"), "move": ("be moved to the quarantine", "moved")}
    return verbs[action][1 if done else 0]

