"""Reading at an I/O depth (readers.py): threads give the outcomes one thread gives, in order, problems
included; spinning disks are read one file at a time."""
from __future__ import annotations

import os

import pytest

from _trees import blob, write
from utilities import readers
from utilities.hashing import PARTIAL_BLOCK
from utilities.records import Stat


@pytest.mark.parametrize("kind", ["partial", "full"])
def test_threads_give_the_same_outcomes_in_the_same_order(kind, tmp_path):
    paths, stats = [], []
    for i in range(40):
        p = write(tmp_path / f"f{i:02d}", blob(i % 7, 1000 + (i % 3) * PARTIAL_BLOCK * 2))
        paths.append(str(p))
        stats.append(Stat.of(os.stat(p)))
    os.unlink(paths[5])                                       # vanished
    with open(paths[9], "ab") as f:                           # grown since its stat record
        f.write(b"more")
    one = readers.hash_files(paths, stats, kind, "xxh128", 4096, threads=1)
    many = readers.hash_files(paths, stats, kind, "xxh128", 4096, threads=8)
    assert many == one
    assert one[5].digest is None and one[5].problem == "vanished during the scan"
    assert one[9].digest is None and one[9].problem.startswith("changed during the scan")
    assert sum(o.digest is not None for o in one) == 38
    assert len({o.digest for o in one if o.digest}) == 21          # 7 seeds x 3 sizes


def test_spinning_disks_are_read_one_file_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "_rotational", lambda major, minor: False)
    assert readers.io_depth([str(tmp_path)]) == readers.DEFAULT_DEPTH
    monkeypatch.setattr(readers, "_rotational", lambda major, minor: True)
    assert readers.io_depth([str(tmp_path)]) == 1
    assert readers.io_depth([str(tmp_path / "missing")]) == readers.DEFAULT_DEPTH   # nothing to ask: the default


def test_the_sys_flag_is_read_for_the_root_device(tmp_path):
    dev = os.stat(tmp_path).st_dev
    flag = f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/queue/rotational"
    if not os.path.exists(flag):
        pytest.skip(f"{tmp_path} is on no block device with {flag}")
    with open(flag) as f:
        expected = f.read().strip() == "1" and "/virtio" not in os.path.realpath(flag)
    assert readers._rotational(os.major(dev), os.minor(dev)) is expected


@pytest.mark.parametrize(("device", "flag", "spinning"), [
    ("pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda", "1", True),   # a SATA disk that spins
    ("pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda", "0", False),  # a SATA SSD
    ("pci0000:00/0000:00:02.0/virtio1/block/vda", "1", False),      # QEMU's default flag on a virtio disk
    ("vbd-51712/block/xvda", "1", False),                           # Xen
])
def test_a_virtual_disk_is_not_taken_for_a_spinning_one(tmp_path, device, flag, spinning):
    """/sys as Linux lays it out: dev/block/M:m links to the device, whose queue/rotational is the flag."""
    disk = tmp_path / "devices" / device
    (disk / "queue").mkdir(parents=True)
    (disk / "queue" / "rotational").write_text(flag + "\n")
    (tmp_path / "dev" / "block").mkdir(parents=True)
    (tmp_path / "dev" / "block" / "8:0").symlink_to(disk)
    assert readers._rotational(8, 0, sys_root=str(tmp_path)) is spinning


def test_a_partition_is_judged_by_its_disk(tmp_path):
    """A partition has no queue of its own: the flag is its disk's (…/block/sda/queue for …/block/sda/sda1)."""
    disk = tmp_path / "devices" / "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"
    (disk / "sda1").mkdir(parents=True)
    (disk / "queue").mkdir()
    (disk / "queue" / "rotational").write_text("1\n")
    (tmp_path / "dev" / "block").mkdir(parents=True)
    (tmp_path / "dev" / "block" / "8:1").symlink_to(disk / "sda1")
    assert readers._rotational(8, 1, sys_root=str(tmp_path)) is True
    (disk / "queue" / "rotational").write_text("0\n")
    assert readers._rotational(8, 1, sys_root=str(tmp_path)) is False
