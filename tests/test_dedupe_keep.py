"""Issue 11, --keep: the rule list is parsed with clear usage errors, and each rule decides as documented."""
from __future__ import annotations

import pytest

from utilities.dedupe.found import DupeFile
from utilities.dedupe.keep import DEFAULT_KEEP, KEEP_RULES, KeepRuleError, parse_keep, rank
from utilities.records import Stat


def f(path: str, mtime: int = 0, root: int = 0, ino: int = 0) -> DupeFile:
    return DupeFile(path, Stat(10, mtime, mtime, 1, ino or hash(path) & 0xFFFF), root)


def best(files, text: str) -> str:
    return rank(files, parse_keep(text))[0].path


def test_default_is_first_root_oldest_path():
    assert parse_keep("first-root,oldest,path") == DEFAULT_KEEP == ("first-root", "oldest", "path")


def test_path_is_appended_when_missing_and_spaces_are_tolerated():
    assert parse_keep("oldest") == ("oldest", "path")
    assert parse_keep(" newest , shortest-path ") == ("newest", "shortest-path", "path")


@pytest.mark.parametrize("text, message", [
    ("", "empty rule"),
    ("oldest,,path", "empty rule"),
    ("eldest", "unknown rule 'eldest' (choose from first-root, oldest, newest, shortest-path, least-nested, "
               "most-nested, path)"),
    ("oldest,oldest", "given twice"),
    ("oldest,newest", "'oldest' and 'newest' contradict"),
    ("most-nested,least-nested", "'most-nested' and 'least-nested' contradict"),
    ("path,oldest", "'path' always decides, so the rules after it (oldest) would never be used"),
])
def test_bad_rule_lists_are_refused_with_one_clear_line(text, message):
    with pytest.raises(KeepRuleError) as e:
        parse_keep(text)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_first_root_a_file_under_an_earlier_root_wins():
    files = [f("/a/x", root=1), f("/b/x", root=0), f("/c/x", root=2)]
    assert best(files, "first-root") == "/b/x"          # root order, not path order


def test_oldest_and_newest_by_mtime():
    files = [f("/a", mtime=5), f("/b", mtime=3), f("/c", mtime=9)]
    assert best(files, "oldest") == "/b"
    assert best(files, "newest") == "/c"


def test_shortest_path_counts_bytes():
    files = [f("/aaaa/x"), f("/bb/y"), f("/\u00e9\u00e9/z")]   # é is 2 bytes: /éé/z is 7 bytes, /bb/y 5
    assert best(files, "shortest-path") == "/bb/y"


def test_least_and_most_nested():
    files = [f("/r/a/b/c/deep"), f("/r/zzzzzzzzzzzzzzzz"), f("/r/a/mid")]
    assert best(files, "least-nested") == "/r/zzzzzzzzzzzzzzzz"
    assert best(files, "most-nested") == "/r/a/b/c/deep"


def test_path_decides_last_and_rules_apply_in_order():
    files = [f("/r/b", mtime=1, root=0), f("/r/a", mtime=1, root=0), f("/q/c", mtime=0, root=1)]
    assert best(files, "path") == "/q/c"
    assert best(files, "first-root") == "/r/a"          # tie on root 0: path decides between /r/a and /r/b
    assert best(files, "oldest,first-root") == "/q/c"   # oldest decides before first-root is tried
    assert best(files, "first-root,oldest") == "/r/a"


def test_rank_never_depends_on_input_order():
    files = [f(f"/r/{c}", mtime=1) for c in "dcab"]
    for rules in KEEP_RULES:
        orders = {tuple(x.path for x in rank(files, parse_keep(rules))),
                  tuple(x.path for x in rank(list(reversed(files)), parse_keep(rules)))}
        assert len(orders) == 1
