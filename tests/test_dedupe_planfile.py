"""Issue 11, the plan JSON (--plan, --apply-plan): lossless round trip (non-UTF-8 names included), hand-edited
plans (groups or operations removed) apply, anything malformed is refused with one line naming it."""
from __future__ import annotations

import copy
import json
import os

import pytest

from _dedupe import findings, snapshot, write
from test_dedupe_plan import ODD_NAMES
from utilities.dedupe.apply import apply_plan
from utilities.dedupe.journal import MemoryJournal
from utilities.dedupe.plan import PlanError, make_plan
from utilities.dedupe.planfile import FORMAT, dumps_plan, load_plan, loads_plan, plan_document, write_plan


@pytest.fixture
def odd_tree(tmp_path):
    root = os.fsencode(tmp_path / "root")
    for i, raw in enumerate(ODD_NAMES):
        write(root + b"/" + raw, b"content %d" % (i % 3))
    os.link(root + b"/" + ODD_NAMES[5], root + b"/hard \xfe link")
    return tmp_path / "root"


@pytest.mark.parametrize("action", ["delete", "hardlink", "symlink", "move"])
def test_plan_round_trips_losslessly(odd_tree, tmp_path, action):
    move_to = str(tmp_path / "q") if action == "move" else None
    plan = make_plan(findings([odd_tree]), action, move_to=move_to, keep_copies=1)
    text = dumps_plan(plan)
    text.encode("utf-8")                                   # valid Unicode: written as UTF-8 anywhere
    assert "\\udcff" in text and "caf\u00e9" in text       # bad bytes escaped, good text as is
    assert loads_plan(text) == plan
    doc = json.loads(text)
    paths = {os.fsencode(f["path"]) for g in doc["groups"] for f in g["files"]}
    paths |= {os.fsencode(n) for g in doc["groups"] for f in g["files"] for n in f["hard_links"]}
    assert paths == {os.fsencode(odd_tree) + b"/" + n for n in [*ODD_NAMES, b"hard \xfe link"]}


def test_plan_written_to_a_file_and_to_stdout(odd_tree, tmp_path, capsysbinary):
    plan = make_plan(findings([odd_tree]), "delete")
    write_plan(str(tmp_path / "plan.json"), plan)
    assert load_plan(str(tmp_path / "plan.json")) == plan
    write_plan("-", plan)
    assert loads_plan(capsysbinary.readouterr().out.decode("utf-8")) == plan


def test_a_plan_with_groups_and_operations_removed_applies_just_those(tmp_path):
    for g in range(3):
        for i in range(3):
            write(tmp_path / f"r/g{g}/f{i}", b"group %d" % g)
    plan = make_plan(findings([tmp_path / "r"]), "delete")
    doc = plan_document(plan)
    del doc["groups"][0]                                   # a whole group removed
    removed = doc["groups"][0]["ops"].pop(0)               # and one operation of another
    (tmp_path / "plan.json").write_text(json.dumps(doc))
    edited = load_plan(str(tmp_path / "plan.json"))
    result = apply_plan(edited, MemoryJournal())
    assert result.count("done") == 3 and result.count("skipped") == 0
    assert os.path.exists(removed["path"])
    for path in [g.ops[0].path for g in plan.groups[:1]]:
        assert os.path.exists(path)
    left = sorted(os.path.relpath(os.path.join(d, n), tmp_path / "r")
                  for d, _, ns in os.walk(tmp_path / "r") for n in ns)
    assert len(left) == 9 - 3


def test_editing_away_one_name_of_a_file_makes_the_plan_claim_nothing_for_it(tmp_path):
    write(tmp_path / "a", b"data")
    v = write(tmp_path / "b", b"data")
    os.link(v, tmp_path / "c")
    doc = plan_document(make_plan(findings([tmp_path]), "delete"))
    assert [op["frees"] for op in doc["groups"][0]["ops"]] == [0, 4]
    doc["groups"][0]["ops"].pop(0)
    plan = loads_plan(json.dumps(doc))
    (op,) = plan.groups[0].ops
    assert op.frees == 0 and "other name(s) of this file under the roots stay" in op.note
    result = apply_plan(plan, MemoryJournal())
    assert result.count("done") == 1 and result.bytes_freed == 0


def _valid(tmp_path, action="delete"):
    write(tmp_path / "r/a", b"data")
    write(tmp_path / "r/b", b"data")
    write(tmp_path / "r/c", b"data")
    write(tmp_path / "r/x", b"datb")
    write(tmp_path / "r/y", b"datb")
    move_to = str(tmp_path / "q") if action == "move" else None
    return plan_document(make_plan(findings([tmp_path / "r"]), action, move_to=move_to))


def _set(path, value):
    def edit(doc):
        *head, last = path
        for k in head:
            doc = doc[k]
        if value is _DELETE:
            del doc[last]
        else:
            doc[last] = value(doc) if callable(value) else value   # value(the object holding the field)
    return edit


_DELETE = object()
G0 = ("groups", 0)
OP0 = (*G0, "ops", 0)
MALFORMED = {
    "an unknown object": (lambda d: d.clear() or d.update({"x": 1}), "unknown field 'x'"),
    "an empty object": (lambda d: d.clear(), "missing field 'format'"),
    "wrong format": (_set(("format",), "something-else"), "not a dupFinder plan"),
    "newer version": (_set(("version",), 2), "plan version 2 is not supported"),
    "unknown top-level field": (_set(("extra",), 1), "unknown field 'extra'"),
    "unknown algorithm": (_set(("algorithm",), "crc32"), "unknown algorithm 'crc32'"),
    "unknown keep rule": (_set(("keep",), ["eldest"]), "unknown keep rule 'eldest'"),
    "keep_copies a string": (_set(("keep_copies",), "1"), "'keep_copies' must be a whole number, not a string"),
    "unknown action": (_set((*OP0, "action"), "shred"), "unknown action 'shred'"),
    "kept file is also a victim": (_set((*OP0, "path"), lambda op: op["kept"]),
                                   "a kept or protected file cannot also be acted on"),
    "victim's kept file not in the group": (_set((*OP0, "kept"), lambda op: op["path"].replace("/r/", "/r/z")),
                                            "is not among the group's kept files"),
    "move without destination": (_set((*OP0, "dest"), _DELETE), "a move without a destination", "move"),
    "move without the plan's move_to": (_set(("move_to",), None), "a move without a destination", "move"),
    "move to another place": (_set((*OP0, "dest"), "/elsewhere/b"), "'dest' must be", "move"),
    "a destination for a delete": (_set((*OP0, "dest"), "/elsewhere/b"), "'dest' is only for a move"),
    "missing stat field": (_set((*G0, "files", 0, "stat", "ctime_ns"), _DELETE), "missing field 'ctime_ns'"),
    "stat field of wrong type": (_set((*G0, "files", 0, "stat", "inode"), "123"),
                                 "'inode' must be a whole number, not a string"),
    "stat field a bool": (_set((*G0, "files", 0, "stat", "inode"), True),
                          "'inode' must be a whole number, not true/false"),
    "stat field a float": (_set((*G0, "files", 0, "stat", "mtime_ns"), 1.5), "'mtime_ns' must be a whole number"),
    "stat size not the group's": (_set((*G0, "files", 1, "stat", "size"), 5), "differs from the group's size"),
    "relative path": (_set((*OP0, "path"), "r/b"), "is not a normalized absolute path"),
    "dot-dot path": (_set((*G0, "files", 1, "path"), lambda f: f["path"].replace("/r/", "/r/../r/")),
                     "is not a normalized absolute path"),
    "path outside the roots": (_set((*G0, "files", 1, "path"), "/etc/passwd"), "is not under any of the plan's roots"),
    "operation on a name not in the group": (_set((*OP0, "path"), lambda op: op["path"] + "-nope"),
                                             "not one of the group's files"),
    "same operation twice": (lambda d: d["groups"][0]["ops"].append(copy.deepcopy(d["groups"][0]["ops"][0])),
                             "a second operation on the same path"),
    "file in two groups": (lambda d: d["groups"][1]["files"].append(copy.deepcopy(d["groups"][0]["files"][0])),
                           "is the same file (device and inode) as another entry"),
    "name in two groups": (_set(("groups", 1, "files", 0, "hard_links"), lambda f: [f["path"].replace("/x", "/a")]),
                           "appears twice in the plan"),
    "no kept file": (_set((*G0, "kept"), []), "no kept file"),
    "fewer kept than keep_copies": (_set(("keep_copies",), 2), "but keep_copies is 2"),
    "ops not a list": (_set((*G0, "ops"), {}), "'ops' must be a list, not an object"),
    "operation not an object": (_set(OP0, "rm /"), "expected an object, not a string"),
    "not a file name": (_set((*G0, "files", 1, "path"), "/\ud800"), "is not a file name this system can use"),
    "size negative": (_set((*G0, "size"), -1), "'size' must be at least 0"),
    "quarantine inside the roots": (_set(("move_to",), lambda d: d["roots"][0] + "/q"), "is inside the roots",
                                    "move"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_plan_is_refused_with_one_line(tmp_path, name):
    edit, message, *action = MALFORMED[name]
    doc = _valid(tmp_path, *action)
    loads_plan(json.dumps(doc))                            # the unedited plan is fine
    edit(doc)
    with pytest.raises(PlanError) as e:
        loads_plan(json.dumps(doc), "plan.json")
    text = str(e.value)
    assert message in text, text
    assert "\n" not in text and text.startswith("plan.json")


@pytest.mark.parametrize("content, message", [
    (b"", "not valid JSON"),
    (b"{\"format\": ", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b"[" * 100000, "not valid JSON"),
    (b"[]", "expected an object, not a list"),
])
def test_an_unreadable_plan_file_is_refused_with_one_line(tmp_path, content, message):
    (tmp_path / "plan.json").write_bytes(content)
    with pytest.raises(PlanError) as e:
        load_plan(str(tmp_path / "plan.json"))
    assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(PlanError, match=r"cannot read the plan .*: No such file or directory"):
        load_plan(str(tmp_path / "missing.json"))


def test_nothing_is_done_when_any_part_of_a_plan_is_malformed(tmp_path):
    doc = _valid(tmp_path)
    doc["groups"][1]["ops"][0]["action"] = "shred"         # the first group is fine, the second is not
    before = snapshot(tmp_path)
    with pytest.raises(PlanError):
        plan = loads_plan(json.dumps(doc))
        apply_plan(plan, MemoryJournal())
    assert snapshot(tmp_path) == before
    assert doc["format"] == FORMAT
