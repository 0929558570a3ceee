"""--catalog and --unique (cli-contract.md, "One catalog for several machines"): copies of the files under the roots
looked for in the whole catalog, three hosts that converge to the exact cross-host groups after two rounds of
scans, the rows only their own host can hash (pending), the unique and not yet decidable files, actions that plan
only this walk's files, and both entry points giving the same output."""
from __future__ import annotations

import csv
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

import main
import main_mul
from _run import ENTRIES, scan
from _trees import age, blob, read_json, write

HOSTS = ("a", "b", "c")




def group_sets(report: dict) -> list[list[str]]:
    return sorted(sorted(g["files"]) for g in report["groups"])


def truth(trees: dict[str, Path], host: str) -> list[list[str]]:
    """Brute force from the bytes: the groups of identical files over every host's tree that hold one of host's
    files; host's paths plain, the others' as other:/abs/path."""
    by_content: dict[bytes, list[str]] = defaultdict(list)
    for h, root in trees.items():
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = os.path.join(dirpath, name)
                by_content[Path(path).read_bytes()].append(path if h == host else f"{h}:{path}")
    return sorted(sorted(g) for g in by_content.values()
                  if len(g) > 1 and any(p.split(":", 1)[0] not in HOSTS for p in g))


@pytest.fixture
def three(tmp_path: Path) -> dict[str, Path]:
    """Three hosts' trees, every size unique within its host (so a first scan hashes nothing): copies across
    hosts, files of one size but other contents across hosts, files of a size no other host has."""
    t = {h: tmp_path / f"host-{h}" for h in HOSTS}
    write(t["a"] / "photos" / "p1.jpg", blob(1, 150_000))        # on a, b and c
    write(t["b"] / "backup" / "p1.jpg", blob(1, 150_000))
    write(t["c"] / "card" / "DCIM" / "p1.jpg", blob(1, 150_000))
    write(t["a"] / "photos" / "p2.jpg", blob(2, 5_000))           # on a and c
    write(t["c"] / "card" / "p2-copy.jpg", blob(2, 5_000))
    write(t["a"] / "notes.txt", blob(3, 4_321))                    # a's size on b, other contents
    write(t["b"] / "other-notes.txt", blob(4, 4_321))
    write(t["b"] / "video.mp4", blob(5, 400_000))                  # on b and c; same head and tail as c's
    write(t["c"] / "video.mp4", blob(5, 400_000))                  # video-edit.mp4, which differs inside
    edited = bytearray(blob(5, 400_000))
    edited[200_000] ^= 0xFF
    write(t["c"] / "video-edit.mp4", bytes(edited))
    write(t["a"] / "alone.bin", blob(6, 777))                      # a size no other host has
    write(t["b"] / "only-b.bin", blob(7, 888))
    for root in t.values():
        age(root)
    return t


def last_seen_within(report: dict, windows: dict[str, tuple[float, float]]) -> None:
    """Each copy of another host carries a last_seen time within that host's last scan."""
    for g in report["groups"]:
        seen = g.get("last_seen", {})
        assert set(seen) == {p for p in g["files"] if p.split(":", 1)[0] in HOSTS}
        for p, t in seen.items():
            start, end = windows[p.split(":", 1)[0]]
            assert start <= t <= end, (p, t, windows)


@ENTRIES
def test_three_hosts_converge_to_the_exact_groups_after_two_rounds(entry, three, db_url, tmp_path):
    windows: dict[str, tuple[float, float]] = {}
    reports: dict[tuple[int, str], dict] = {}
    for round_ in (1, 2):
        for h in HOSTS:
            start = time.time()
            reports[round_, h] = scan(entry, [three[h]], db_url, tmp_path, "--host", h, "--catalog")
            windows[h] = (start, time.time())
            if round_ == 2:
                last_seen_within(reports[round_, h], windows)

    # round 1: a saw nothing; b and c name the rows only another host can hash
    assert reports[1, "a"]["groups"] == [] and reports[1, "a"]["pending"] == []
    pending_b = {p["host"]: (p["rows"], p["bytes"]) for p in reports[1, "b"]["pending"]}
    assert pending_b == {"a": (2, 150_000 + 4_321)}                   # p1 and notes: a never hashed them
    pending_c = {p["host"]: (p["rows"], p["bytes"]) for p in reports[1, "c"]["pending"]}
    assert pending_c == {"a": (2, 150_000 + 5_000), "b": (1, 400_000)}    # b hashed its p1, not its video
    # c already finds the copy that b hashed
    assert group_sets(reports[1, "c"]) == [
        sorted([str(three["c"] / "card" / "DCIM" / "p1.jpg"), f"b:{three['b'] / 'backup' / 'p1.jpg'}"])]

    # round 2: every host's groups are the truth, exactly, and nothing is pending
    for h in HOSTS:
        report = reports[2, h]
        assert group_sets(report) == truth(three, h), h
        assert report["pending"] == [], h
        for g in report["groups"]:
            assert g["count"] == len(g["files"]) and g["wasted_bytes"] == g["size"] * (g["count"] - 1)
        s = report["summary"]
        assert s["duplicate_files"] == sum(g["count"] for g in report["groups"])
        assert s["wasted_bytes"] == sum(g["wasted_bytes"] for g in report["groups"])
    assert len(truth(three, "a")) == 2 and len(truth(three, "b")) == 2 and len(truth(three, "c")) == 3


def test_without_catalog_nothing_changes_and_same_host_other_roots_are_copies(three, db_url, tmp_path):
    a = three["a"]
    write(a / "elsewhere" / "p2-old.jpg", blob(2, 5_000))
    age(a)
    scan(main.main, [a / "elsewhere"], db_url, tmp_path, "--host", "a")
    plain = scan(main.main, [a / "photos"], db_url, tmp_path, "--host", "a")
    assert plain["groups"] == [] and "pending" not in plain and "last_seen" not in json.dumps(plain)
    wide = scan(main.main, [a / "photos"], db_url, tmp_path, "--host", "a", "--catalog")
    assert wide["groups"] == [] and wide["pending"] == [{"host": "a", "rows": 1, "bytes": 5_000}]
    scan(main.main, [a / "elsewhere"], db_url, tmp_path, "--host", "a", "--catalog")     # that root is hashed
    wide = scan(main.main, [a / "photos"], db_url, tmp_path, "--host", "a", "--catalog")
    assert group_sets(wide) == [sorted([str(a / "elsewhere" / "p2-old.jpg"), str(a / "photos" / "p2.jpg")])]
    assert list(wide["groups"][0]["last_seen"]) == [str(a / "elsewhere" / "p2-old.jpg")]
    assert wide["pending"] == []


def test_a_hard_link_outside_the_roots_is_not_a_copy(tmp_path, db_url):
    root = tmp_path / "h"
    f = write(root / "in" / "f.bin", blob(8, 9_000))
    (root / "out").mkdir()
    os.link(f, root / "out" / "f-link.bin")
    age(root)
    scan(main.main, [root / "out"], db_url, tmp_path, "--host", "a", "--catalog")
    scan(main.main, [root / "in"], db_url, tmp_path, "--host", "a", "--catalog")
    scan(main.main, [root / "out"], db_url, tmp_path, "--host", "a", "--catalog")
    report = scan(main.main, [root / "in"], db_url, tmp_path, "--host", "a", "--unique")
    assert report["groups"] == []
    assert report["unique"] == [{"path": str(f), "size": 9_000}]


# ----------------------------------------------------------------------------------------------- --unique
@ENTRIES
def test_unique_and_not_yet_decidable(entry, tmp_path, db_url):
    a, b, c = (tmp_path / f"u-{h}" for h in HOSTS)
    write(a / "u1-nowhere-else.bin", blob(11, 3_333))
    write(a / "u2-copy-on-b.bin", blob(12, 44_444))
    write(a / "u3-size-on-c.bin", blob(13, 55_555))          # c has this size, other contents
    write(a / "u4-copy-on-c.bin", blob(14, 66_666))          # c has a copy, not hashed yet
    write(a / "u5-local-twin.bin", blob(15, 1_000))
    write(a / "sub" / "u5-local-twin.bin", blob(15, 1_000))
    write(b / "u2.bin", blob(12, 44_444))
    write(c / "u3-other.bin", blob(16, 55_555))
    write(c / "u4.bin", blob(14, 66_666))
    for root in (a, b, c):
        age(root)
    scan(entry, [a], db_url, tmp_path, "--host", "a", "--catalog")
    scan(entry, [b], db_url, tmp_path, "--host", "b", "--catalog")     # hashes u2 (a's row of its size is not)
    scan(entry, [c], db_url, tmp_path, "--host", "c")                  # no --catalog: stat records only

    first = scan(entry, [a], db_url, tmp_path, "--host", "a", "--unique")
    assert first["unique"] == [{"path": str(a / "u1-nowhere-else.bin"), "size": 3_333}]
    assert first["undecided"] == [{"path": str(a / "u3-size-on-c.bin"), "size": 55_555, "hosts": ["c"]},
                                  {"path": str(a / "u4-copy-on-c.bin"), "size": 66_666, "hosts": ["c"]}]
    assert group_sets(first) == sorted([sorted([str(a / "u2-copy-on-b.bin"), f"b:{b / 'u2.bin'}"]),
                                        sorted([str(a / "sub" / "u5-local-twin.bin"), str(a / "u5-local-twin.bin")])])
    assert {p["host"]: p["rows"] for p in first["pending"]} == {"c": 2}

    scan(entry, [c], db_url, tmp_path, "--host", "c", "--catalog")     # c hashes what a may share
    second = scan(entry, [a], db_url, tmp_path, "--host", "a", "--unique")
    assert second["unique"] == [{"path": str(a / "u1-nowhere-else.bin"), "size": 3_333},
                                {"path": str(a / "u3-size-on-c.bin"), "size": 55_555}]
    assert second["undecided"] == [] and second["pending"] == []
    assert sorted([str(a / "u4-copy-on-c.bin"), f"c:{c / 'u4.bin'}"]) in group_sets(second)


def test_unique_summary_and_pending_line_on_stderr(cli, tmp_path, db_url):
    a, b = tmp_path / "s-a", tmp_path / "s-b"
    write(a / "x.bin", blob(21, 2_000))
    write(a / "y.bin", blob(22, 3_000))
    write(b / "x-size.bin", blob(23, 2_000))
    age(a)
    age(b)
    assert cli("main.py", b, "--db-url", db_url, "--host", "b", "--skip-html", "-q").returncode == 0
    proc = cli("main.py", a, "--db-url", db_url, "--host", "a", "--skip-html", "--unique")
    assert proc.returncode == 0, proc.stderr
    assert "1 row on b has no hash yet: scan those hosts with --catalog" in proc.stderr
    assert "unique files:     1 (2.9 KiB) have no copy anywhere in the catalog; 1 not yet decidable " \
           "(scan b with --catalog)" in proc.stderr


# ----------------------------------------------------------------------------------------------- actions
def test_catalog_action_plans_only_local_files(tmp_path, db_url, capsys):
    a, b = tmp_path / "act-a", tmp_path / "act-b"
    write(a / "x1.bin", blob(31, 20_000))
    write(a / "x2.bin", blob(31, 20_000))
    write(a / "only-copy-on-b.bin", blob(32, 30_000))
    write(b / "x.bin", blob(31, 20_000))
    write(b / "y.bin", blob(32, 30_000))
    age(a)
    age(b)
    scan(main.main, [a], db_url, tmp_path, "--host", "a", "--catalog")
    scan(main.main, [b], db_url, tmp_path, "--host", "b", "--catalog")
    plan_path = tmp_path / "plan.json"
    report = scan(main.main, [a], db_url, tmp_path, "--host", "a", "--catalog", "--action", "delete",
                  "--plan", str(plan_path))
    capsys.readouterr()
    assert len(report["groups"]) == 2 and all(g["count"] == 3 if g["size"] == 20_000 else g["count"] == 2
                                              for g in report["groups"])
    plan = read_json(plan_path)
    named = json.dumps(plan["groups"])
    assert "b:" not in named and str(b) not in named and "only-copy-on-b" not in named
    [group] = plan["groups"]
    ops = [op["path"] for op in group["ops"]]
    assert ops == [str(a / "x2.bin")] and group["kept"] == [str(a / "x1.bin")]
    assert (a / "x2.bin").exists()                                     # a dry run


# ------------------------------------------------------------------------------------------ entry points
@pytest.mark.parametrize("mode", ["--catalog", "--unique"])
def test_main_and_main_mul_give_the_same_output(three, db_url, tmp_path, mode):
    for h in HOSTS:
        scan(main.main, [three[h]], db_url, tmp_path, "--host", h, "--catalog")
    outputs = []
    for entry in (main.main, main_mul.main):
        report = scan(entry, [three["b"]], db_url, tmp_path, "--host", "b", mode)
        report.pop("generated_at")
        for g in report["groups"]:
            g["last_seen"] = sorted(g.get("last_seen", {}))        # the times move with each scan of b
        outputs.append(report)
    assert outputs[0] == outputs[1]
    assert outputs[0]["groups"] and outputs[0]["pending"] == [{"host": "a", "rows": 2, "bytes": 154_321}]


def test_html_report_shows_copies_elsewhere_unique_and_undecided(tmp_path, db_url):
    a, b, c = (tmp_path / f"r-{h}" for h in HOSTS)
    write(a / "shared.bin", blob(41, 7_000))
    write(a / "mine.bin", blob(42, 8_000))
    write(a / "maybe.bin", blob(43, 9_000))
    write(b / "shared.bin", blob(41, 7_000))
    write(c / "maybe-size.bin", blob(44, 9_000))
    for root in (a, b, c):
        age(root)
    scan(main.main, [a], db_url, tmp_path, "--host", "a", "--catalog")
    scan(main.main, [b], db_url, tmp_path, "--host", "b", "--catalog")
    scan(main.main, [c], db_url, tmp_path, "--host", "c")
    page = tmp_path / "report.html"
    assert main.main([str(a), "--db-url", db_url, "--host", "a", "--unique", "-r", str(page), "-q"]) == 0
    text = page.read_text(encoding="utf-8")
    assert f"b:{b}/" in text and "last seen by b " in text                 # the copy on b, with its time
    assert "Unique files: 1" in text and f"{a}/mine.bin" in text
    assert "Not yet decidable: 1" in text and "scan c with --catalog" in text
    assert "Copies not yet decidable on other hosts" in text and "<strong>c</strong>: 1 row" in text


def test_csv_has_host_paths_and_a_last_seen_column(tmp_path, db_url):
    a, b = tmp_path / "csv-a", tmp_path / "csv-b"
    write(a / "x.bin", blob(51, 6_000))
    write(b / "x.bin", blob(51, 6_000))
    age(a)
    age(b)
    scan(main.main, [b], db_url, tmp_path, "--host", "b", "--catalog")
    scan(main.main, [a], db_url, tmp_path, "--host", "a", "--catalog")
    scan(main.main, [b], db_url, tmp_path, "--host", "b", "--catalog")
    out = tmp_path / "groups.csv"
    assert main.main([str(a), "--db-url", db_url, "--host", "a", "--catalog", "--csv", str(out), "--skip-html",
                      "-q"]) == 0
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["group", "hash", "size", "path", "hard_links", "last_seen"]
    by_path = {r[3]: r for r in rows[1:]}
    assert set(by_path) == {str(a / "x.bin"), f"b:{b / 'x.bin'}"}
    assert by_path[str(a / "x.bin")][5] == "" and float(by_path[f"b:{b / 'x.bin'}"][5]) > time.time() - 60


def test_size_batches_bound_sizes_and_digests_per_statement():
    from utilities.catalog_lookups import BATCH, _size_batches
    partials = {size: {f"{size}-{k}" for k in range(size % 50)} for size in range(1, 5_000)}
    partials[7_777] = {f"big-{k}" for k in range(12 * BATCH)}       # one size alone over the digest bound
    batches = list(_size_batches(partials))
    assert sorted(s for b in batches for s in b) == sorted(partials)
    for b in batches:
        assert len(b) <= BATCH
        assert len(b) == 1 or sum(len(partials[s]) for s in b) <= 10 * BATCH
