"""The plan and what applying did, as text: one line per operation in shell syntax (quoting.shell_quote),
then the totals."""
from __future__ import annotations

import os
from collections.abc import Iterator

from ..units import human_bytes
from .apply import ApplyResult
from .plan import Operation, Plan
from .quoting import shell_quote
from .replace import link_target


def command(op: Operation) -> str:
    """Returns the shell command that does what op does (not atomically: apply does it safely)."""
    p, k = shell_quote(op.path), shell_quote(op.kept)
    if op.action == "delete":
        return f"rm -- {p}"
    if op.action == "hardlink":
        return f"ln -f -- {k} {p}"
    if op.action == "symlink":
        return f"ln -sf -- {shell_quote(link_target(op.kept, op.path))} {p}"
    if op.action == "reflink":
        return f"cp --reflink=always --preserve=mode,ownership,timestamps -- {k} {p}"
    dest = op.dest or ""
    return f"mkdir -p -- {shell_quote(os.path.dirname(dest))} && mv -n -- {p} {shell_quote(dest)}"


def _comment(op: Operation) -> str:
    if op.frees:
        what = f"frees {human_bytes(op.frees)}"
        return f"  # {what} ({op.note})" if op.note else f"  # {what}"
    return f"  # {op.note}"


def dry_run_lines(plan: Plan) -> Iterator[str]:
    """Yields the dry run's output: one line per operation (command and what it frees), a comment for
    each file left out and why, and the total."""
    for g in plan.groups:
        for op in g.ops:
            yield command(op) + _comment(op)
        for left in g.left:
            yield f"# left as is: {shell_quote(left.path)}: {left.reason}"
    n, groups = plan.operations, sum(1 for g in plan.groups if g.ops)
    yield (f"# dry run: {n:,} operation{'s' if n != 1 else ''} in {groups:,} group{'s' if groups != 1 else ''} "
           f"would free {human_bytes(plan.bytes_to_free)} ({plan.bytes_to_free:,} bytes); "
           f"nothing was changed (--apply does it)")


def apply_lines(result: ApplyResult) -> Iterator[str]:
    """Yields what --apply prints: leftovers of an earlier run removed, each operation done (and what it
    freed), each one skipped or failed with its reason, and the totals."""
    for x in result.leftovers:
        if x.removed:
            yield f"# removed a temporary {x.kind} left by an interrupted run: {shell_quote(x.path)}"
        else:
            yield f"# left a temporary {x.kind} alone: {shell_quote(x.path)}: {x.reason}"
    for r in result.results:
        if r.outcome == "done":
            yield f"done: {command(r.op)}" + (f"  # freed {human_bytes(r.freed)}" if r.freed else "")
        else:
            yield f"{r.outcome}: {command(r.op)}  # {r.reason}"
    yield (f"# applied: {result.count('done'):,} done, {result.count('skipped'):,} skipped, "
           f"{result.count('failed'):,} failed; freed {human_bytes(result.bytes_freed)} "
           f"({result.bytes_freed:,} bytes); compared {human_bytes(result.bytes_verified)}")
    if result.interrupted:
        yield (f"# interrupted: {result.not_attempted:,} operations not attempted; every path not listed "
               f"as done above is as it was")
