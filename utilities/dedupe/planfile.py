"""The plan as JSON (--plan, --apply-plan): written losslessly, loaded only when every part is understood.

Names that are not UTF-8 are written as Python's surrogateescape decoding, as \\udcXX escapes (the JSON
export's convention): os.fsencode(json.load(f)[...]) gives the exact bytes back. Other text is written
as is (UTF-8). A plan may be edited by hand before --apply-plan: groups and operations may be removed.
Anything else that is malformed or inconsistent raises PlanError with one line naming the problem, so
a half-understood plan is never acted on. The "frees" figures are recomputed on loading.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from ..atomic import write_atomically
from ..exports import json_chunks
from ..hashing import ALGORITHMS
from ..paths import is_under
from ..records import Stat
from .keep import KEEP_RULES
from .plan import (
    ACTIONS,
    GroupPlan,
    Left,
    Operation,
    Plan,
    PlanError,
    PlanFile,
    device_of,
    quarantine_path,
    settle_frees,
)
from .quoting import shell_quote

FORMAT = "dupfinder-plan"
VERSION = 1
_STAT_FIELDS = Stat._fields


# ------------------------------------------------------------------------------------------- writing
def plan_document(plan: Plan) -> dict[str, Any]:
    """Returns the plan as plain JSON data (paths as str with surrogates)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": plan.generated_at,
        "roots": list(plan.roots),
        "algorithm": plan.algorithm,
        "keep": list(plan.keep),
        "keep_copies": plan.keep_copies,
        "move_to": plan.move_to,
        "summary": {"groups": len(plan.groups), "operations": plan.operations, "bytes_to_free": plan.bytes_to_free},
        "groups": [{
            "hash": g.digest,
            "size": g.size,
            "files": [{"path": f.path, "root": f.root, "hard_links": list(f.hard_links), "links": f.links,
                       "stat": f.stat._asdict()} for f in g.files],
            "kept": list(g.kept),
            "protected": list(g.protected),
            "ops": [{"action": op.action, "path": op.path, "kept": op.kept,
                     **({"dest": op.dest} if op.dest is not None else {}),
                     "frees": op.frees, "note": op.note} for op in g.ops],
            "left": [{"path": x.path, "reason": x.reason} for x in g.left],
        } for g in plan.groups],
    }


def dumps_plan(plan: Plan) -> str:
    """Returns the plan as JSON text: valid Unicode, undecodable name bytes as \\udcXX escapes (as the
    JSON export writes them: exports.json_chunks)."""
    return "".join(json_chunks(plan_document(plan))) + "\n"


def write_plan(path: str, plan: Plan) -> None:
    """Writes the plan to path ('-' = stdout), whole or not at all."""
    text = dumps_plan(plan)
    if path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return

    def write(f: IO[str]) -> None:
        f.write(text)
    write_atomically(path, write)


# ------------------------------------------------------------------------------------------- loading
class _Reader:
    """Typed access to one JSON object, raising PlanError that says where."""

    def __init__(self, data: object, where: str, allowed: Sequence[str], optional: Sequence[str] = ()) -> None:
        if not isinstance(data, dict):
            raise PlanError(f"{where}: expected an object, not {_kind(data)}")
        unknown = sorted(set(data) - set(allowed) - set(optional))
        if unknown:
            raise PlanError(f"{where}: unknown field {unknown[0]!r}")
        missing = [k for k in allowed if k not in data]
        if missing:
            raise PlanError(f"{where}: missing field {missing[0]!r}")
        self.data, self.where = data, where

    def number(self, key: str, minimum: int | None = None) -> int:
        v = self.data[key]
        if type(v) is not int:
            raise PlanError(f"{self.where}: {key!r} must be a whole number, not {_kind(v)}")
        if minimum is not None and v < minimum:
            raise PlanError(f"{self.where}: {key!r} must be at least {minimum}, not {v}")
        return v

    def text(self, key: str) -> str:
        v = self.data.get(key)
        if not isinstance(v, str):
            raise PlanError(f"{self.where}: {key!r} must be a string, not {_kind(v)}")
        return v

    def path(self, key: str) -> str:
        return _check_path(self.text(key), f"{self.where}: {key!r}")

    def items(self, key: str) -> list[Any]:
        v = self.data.get(key, [])
        if not isinstance(v, list):
            raise PlanError(f"{self.where}: {key!r} must be a list, not {_kind(v)}")
        return v

    def paths(self, key: str) -> list[str]:
        out = []
        for i, v in enumerate(self.items(key)):
            if not isinstance(v, str):
                raise PlanError(f"{self.where}: {key!r} item {i + 1} must be a path string, not {_kind(v)}")
            out.append(_check_path(v, f"{self.where}: {key!r} item {i + 1}"))
        return out


def _kind(v: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def _check_path(p: str, where: str) -> str:
    try:
        raw = os.fsencode(p)
    except UnicodeEncodeError:
        raise PlanError(f"{where}: {p!r} is not a file name this system can use") from None
    if b"\0" in raw or not p.startswith("/") or os.path.normpath(p) != p or p.startswith("//"):
        raise PlanError(f"{where}: {shell_quote(p)} is not a normalized absolute path")
    return p


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(is_under(path, r) for r in roots)


def _file(data: object, where: str, size: int, roots: Sequence[str]) -> PlanFile:
    r = _Reader(data, where, ("path", "root", "hard_links", "links", "stat"))
    path = r.path("path")
    where = f"{where} ({shell_quote(path)})"
    st = _Reader(r.data["stat"], f"{where}: 'stat'", _STAT_FIELDS)
    stat = Stat(*(st.number(k) for k in _STAT_FIELDS))
    if stat.size != size:
        raise PlanError(f"{where}: its stat size {stat.size} differs from the group's size {size}")
    root = r.number("root", 0)
    if root >= len(roots):
        raise PlanError(f"{where}: root {root} is not an index into the plan's {len(roots)} roots")
    names = [path, *r.paths("hard_links")]
    for n in names:
        if not _under(n, roots):
            raise PlanError(f"{where}: {shell_quote(n)} is not under any of the plan's roots")
    return PlanFile(path, stat, root, tuple(names[1:]), r.number("links", 0))


def _op(data: object, where: str, move_to: str | None) -> Operation:
    r = _Reader(data, where, ("action", "path", "kept"), ("dest", "frees", "note"))
    action, path = r.text("action"), r.path("path")
    where = f"{where} ({shell_quote(path)})"
    if action not in ACTIONS:
        raise PlanError(f"{where}: unknown action {action!r} (expected one of {', '.join(ACTIONS)})")
    dest = None
    if action == "move":
        if "dest" not in r.data or move_to is None:
            raise PlanError(f"{where}: a move without a destination (needs 'dest' and the plan's 'move_to')")
        dest = r.path("dest")
        if dest != quarantine_path(move_to, path):
            raise PlanError(f"{where}: 'dest' must be {shell_quote(quarantine_path(move_to, path))}")
    elif r.data.get("dest") is not None:
        raise PlanError(f"{where}: 'dest' is only for a move, not for {action}")
    if "frees" in r.data:
        r.number("frees", 0)      # recomputed below; checked only for its type
    if "note" in r.data:
        r.text("note")
    return Operation(action, path, r.path("kept"), dest, 0, "")


def _group(data: object, where: str, plan: dict[str, Any], seen: set[str], seen_inodes: set[tuple[int, int]],
           move_dev: int | None) -> GroupPlan:
    r = _Reader(data, where, ("hash", "size", "files", "kept", "protected", "ops"), ("left",))
    digest, size = r.text("hash"), r.number("size", 0)
    where = f"{where} (hash {digest[:12]})"
    files = [_file(f, f"{where}, file {i + 1}", size, plan["roots"]) for i, f in enumerate(r.items("files"))]
    if not files:
        raise PlanError(f"{where}: no files")
    by_name: dict[str, PlanFile] = {}
    for f in files:
        key = (f.stat.device, f.stat.inode)
        if key in seen_inodes:
            raise PlanError(f"{where}: {shell_quote(f.path)} is the same file (device and inode) as another entry")
        seen_inodes.add(key)
        for n in f.names:
            if n in seen:
                raise PlanError(f"{where}: {shell_quote(n)} appears twice in the plan")
            seen.add(n)
            by_name[n] = f
    primary = {f.path for f in files}
    kept, protected = r.paths("kept"), r.paths("protected")
    if not kept:
        raise PlanError(f"{where}: no kept file")
    for p in kept + protected:
        if p not in primary:
            raise PlanError(f"{where}: kept or protected {shell_quote(p)} is not one of the group's files")
    if len(set(kept + protected)) != len(kept) + len(protected):
        raise PlanError(f"{where}: a file is listed twice among kept and protected")
    staying = {n for p in kept + protected for n in by_name[p].names}
    ops = [_op(o, f"{where}, operation {i + 1}", plan["move_to"]) for i, o in enumerate(r.items("ops"))]
    done: set[str] = set()
    for i, op in enumerate(ops):
        at = f"{where}, operation {i + 1} ({shell_quote(op.path)})"
        if op.path not in by_name:
            raise PlanError(f"{at}: not one of the group's files")
        if op.path in staying:
            raise PlanError(f"{at}: a kept or protected file cannot also be acted on")
        if op.kept not in kept:
            raise PlanError(f"{at}: its kept file {shell_quote(op.kept)} is not among the group's kept files")
        if op.path in done:
            raise PlanError(f"{at}: a second operation on the same path")
        done.add(op.path)
    if ops and len(kept) < plan["keep_copies"]:
        raise PlanError(f"{where}: keeps {len(kept)} file(s) but keep_copies is {plan['keep_copies']}")
    left = []
    for i, x in enumerate(r.items("left")):
        lr = _Reader(x, f"{where}, left {i + 1}", ("path", "reason"))
        left.append(Left(lr.path("path"), lr.text("reason")))
    # files first as the kept order says, so that GroupPlan.files keeps its meaning after an edit
    order = {p: i for i, p in enumerate(kept + protected)}
    files.sort(key=lambda f: order.get(f.path, len(order)))
    return GroupPlan(size, digest, tuple(files), tuple(kept), tuple(protected),
                     settle_frees(size, files, ops, move_dev), tuple(left))


def plan_from_document(data: object, source: str = "plan") -> Plan:
    """Returns the Plan data describes; raises PlanError naming the first problem found."""
    r = _Reader(data, source, ("format", "version", "roots", "algorithm", "keep", "keep_copies", "move_to", "groups"),
                ("generated_at", "summary"))
    if r.data["format"] != FORMAT:
        raise PlanError(f"{source}: not a dupFinder plan ('format' is {r.data['format']!r}, not {FORMAT!r})")
    if r.data["version"] != VERSION:
        raise PlanError(f"{source}: plan version {r.data['version']!r} is not supported (this dupFinder reads "
                        f"version {VERSION})")
    roots = r.paths("roots")
    if not roots:
        raise PlanError(f"{source}: 'roots' is empty")
    algorithm = r.text("algorithm")
    if algorithm not in ALGORITHMS:
        raise PlanError(f"{source}: unknown algorithm {algorithm!r}")
    keep = r.items("keep")
    for rule in keep:
        if rule not in KEEP_RULES:
            raise PlanError(f"{source}: unknown keep rule {rule!r}")
    move_to = None if r.data["move_to"] is None else r.path("move_to")
    if move_to is not None and _under(move_to, roots):
        raise PlanError(f"{source}: 'move_to' {shell_quote(move_to)} is inside the roots")
    generated = r.data.get("generated_at", 0.0)
    if not isinstance(generated, int | float) or isinstance(generated, bool):
        raise PlanError(f"{source}: 'generated_at' must be a number")
    keep_copies = r.number("keep_copies", 1)
    ctx = {"roots": roots, "move_to": move_to, "keep_copies": keep_copies}
    move_dev = device_of(move_to) if move_to else None
    seen: set[str] = set()
    seen_inodes: set[tuple[int, int]] = set()
    groups = tuple(_group(g, f"{source}: group {i + 1}", ctx, seen, seen_inodes, move_dev)
                   for i, g in enumerate(r.items("groups")))
    return Plan(tuple(roots), algorithm, tuple(keep), keep_copies, move_to, float(generated), groups)


def loads_plan(text: str, source: str = "plan") -> Plan:
    """Returns the plan in JSON text; raises PlanError with one line naming the problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"{source}: not valid JSON: {e}") from None
    except RecursionError:
        raise PlanError(f"{source}: not valid JSON: nested too deeply") from None
    return plan_from_document(data, source)


def load_plan(path: str) -> Plan:
    """Returns the plan written earlier at path ('-' = stdin); raises PlanError (unreadable, not JSON,
    malformed or inconsistent) with one line naming the problem."""
    source = "stdin" if path == "-" else path
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
        text = raw.decode("utf-8")
    except OSError as e:
        raise PlanError(f"cannot read the plan {source}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise PlanError(f"{source}: not UTF-8 text (byte {e.start})") from None
    return loads_plan(text, source)
