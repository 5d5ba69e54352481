"""Whiteboard file reads (O_DIRECT) and the dump command; writes need sanlock (integration)."""

import ast
import ctypes
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vdsm_hosted_engine.cli import whiteboard_dump
from vdsm_hosted_engine.errors import HostIdNotHeld, StorageUnavailable
from vdsm_hosted_engine.storage import whiteboard as wb
from vdsm_hosted_engine.storage.whiteboard_file import WhiteboardFile, create_metadata_file

DOWN = {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}


@pytest.fixture
def tmp_board(tmp_path):
    """A metadata file with host 1 and 3 written, slot 2 damaged, global maintenance on."""
    path = tmp_path / "hosted-engine.metadata"
    create_metadata_file(str(path))
    with open(path, "r+b") as f:
        f.write(wb.encode_global_slot(wb.GlobalSlot(maintenance=True)))
        for host_id, score in ((1, 3400), (3, 1800)):
            f.seek(host_id * 4096)
            f.write(
                wb.encode_host_slot(
                    wb.HostSlot(host_id, 100 + host_id, score, DOWN, f"host{host_id}", state="EngineDown"), 0
                )
            )
        f.seek(2 * 4096)
        f.write(b"garbage".ljust(4096, b"\0"))
    return str(path)


def test_read_decodes_every_slot_in_one_read(tmp_board):
    board = WhiteboardFile(tmp_board).read()
    assert sorted(board.hosts) == [1, 3]
    assert board.hosts[3].score == 1800
    assert board.invalid[2].reason == "field parse version is not an integer: 'garbage'"
    assert board.global_maintenance


def test_read_of_a_missing_file(tmp_path):
    with pytest.raises(StorageUnavailable, match="cannot open .*: No such file or directory"):
        WhiteboardFile(str(tmp_path / "absent")).read()


def write_slot(path, host_id, block):
    """Another host's write (the test is that host): the block lands in the file as it is."""
    with open(path, "r+b") as f:
        f.seek(host_id * 4096)
        f.write(block.ljust(4096, b"\0"))


def host_block(host_id, timestamp, score=3400):
    return wb.encode_host_slot(wb.HostSlot(host_id, timestamp, score, DOWN, f"host{host_id}"), 0)


def test_a_reader_decodes_only_the_slots_that_changed(tmp_board):
    reader = WhiteboardFile(tmp_board)
    first = reader.read()
    write_slot(tmp_board, 3, host_block(3, 200, score=0))
    second = reader.read()
    assert second.hosts[1] is first.hosts[1]  # unchanged bytes: the kept reading
    assert second.invalid[2] is first.invalid[2]
    assert (second.hosts[3].timestamp, second.hosts[3].score) == (200, 0)
    assert second == WhiteboardFile(tmp_board).read()  # the same as a fresh decode


def test_a_reader_sees_slots_emptied_damaged_and_repaired(tmp_board):
    reader = WhiteboardFile(tmp_board)
    reader.read()
    write_slot(tmp_board, 1, b"")
    write_slot(tmp_board, 2, host_block(2, 50))
    write_slot(tmp_board, 3, b"garbage")
    board = reader.read()
    assert sorted(board.hosts) == [2] and sorted(board.invalid) == [3]
    write_slot(tmp_board, 1, host_block(1, 300))
    write_slot(tmp_board, 3, host_block(3, 300))
    board = reader.read()
    assert sorted(board.hosts) == [1, 2, 3] and not board.invalid
    assert board == WhiteboardFile(tmp_board).read()


def test_a_reader_follows_the_area_size(tmp_board):
    reader = WhiteboardFile(tmp_board)
    assert sorted(reader.read().hosts) == [1, 3]
    with open(tmp_board, "r+b") as f:
        f.truncate(3 * 4096)  # slot 3 gone
    assert sorted(reader.read().hosts) == [1]
    with open(tmp_board, "r+b") as f:
        f.truncate(0)
    assert reader.read().global_valid is False
    assert reader.read_bytes() == b""


def test_what_a_read_returned_does_not_change_with_the_next_read(tmp_board):
    """The reader reuses its buffer: nothing it returned may be a view of it."""
    before = Path(tmp_board).read_bytes()
    reader = WhiteboardFile(tmp_board)
    area = reader.read_bytes()
    board = reader.read()
    write_slot(tmp_board, 1, host_block(1, 999))
    assert reader.read().hosts[1].timestamp == 999
    assert reader.read_bytes() != before
    assert area == before and board.hosts[1].timestamp == 101


def buffer_mapping(reader):
    """The /proc/self/smaps entry (header line, VmFlags) of the reader's read buffer."""
    address = ctypes.addressof(ctypes.c_char.from_buffer(reader._buffer))
    header = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if "-" in line.split()[0] and not line.split()[0].endswith(":"):
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            header = line if start <= address < end else None
        elif header is not None and line.startswith("VmFlags:"):
            return header, line.split()[1:]
    raise AssertionError("the buffer is not in /proc/self/smaps")


def test_the_read_buffer_is_private_memory(tmp_board):
    """A MAP_SHARED anonymous map is shmem: slower to fault in and to read into."""
    reader = WhiteboardFile(tmp_board)
    reader.read()
    header, _flags = buffer_mapping(reader)
    assert header.split()[1].endswith("p"), header


@pytest.mark.skipif(
    not Path("/sys/kernel/mm/transparent_hugepage/enabled").exists(), reason="this kernel has no transparent huge pages"
)
def test_the_read_buffer_asks_for_huge_pages(tmp_board):
    reader = WhiteboardFile(tmp_board)
    reader.read()
    _header, flags = buffer_mapping(reader)
    assert "hg" in flags, flags


def test_concurrent_reads_through_one_reader_agree(tmp_board):
    """The agent, the storage monitor and RPC threads share a reader (its buffer and cache)."""
    reader = WhiteboardFile(tmp_board)
    expected = reader.read()
    failures = []

    def read_many():
        for _ in range(30):
            board = reader.read()
            area = reader.read_bytes()
            if board != expected or wb.decode_whiteboard(area) != expected:
                failures.append(board)

    threads = [threading.Thread(target=read_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_symlinked_metadata_file_is_not_followed(tmp_board, tmp_path):
    """Finding 9: whoever can write the storage could point the metadata at a host file."""
    link = tmp_path / "linked.metadata"
    link.symlink_to(tmp_board)
    with pytest.raises(StorageUnavailable, match="cannot open"):
        WhiteboardFile(str(link)).read()


def test_writes_without_a_lockspace_are_refused(tmp_board):
    before = Path(tmp_board).read_bytes()
    slot = wb.HostSlot(1, 1, 1, {}, "h")
    with pytest.raises(HostIdNotHeld):
        WhiteboardFile(tmp_board).write_host_slot(slot)
    with pytest.raises(HostIdNotHeld):
        WhiteboardFile(tmp_board).set_global_maintenance(1, False)
    with pytest.raises(ValueError, match="host id 0 out of range"):
        WhiteboardFile(tmp_board).write_host_slot(wb.HostSlot(0, 1, 1, {}, "h"))
    assert Path(tmp_board).read_bytes() == before


def test_dump_json_is_ovirt_shaped(tmp_board, capsys):
    assert whiteboard_dump.main(["dump", tmp_board, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out) == ["1", "3", "global_maintenance", "invalid_slots"]
    assert out["global_maintenance"] is True
    assert out["invalid_slots"] == {"2": "field parse version is not an integer: 'garbage'"}
    host = out["1"]
    assert sorted(host) == sorted(
        [
            "host-id",
            "host-ts",
            "score",
            "engine-status",
            "hostname",
            "maintenance",
            "stopped",
            "crc32",
            "conf_on_shared_storage",
            "local_conf_timestamp",
            "extra",
            "live-data",
        ]
    )
    assert (host["host-id"], host["host-ts"], host["score"], host["engine-status"]) == (1, 101, 3400, DOWN)
    assert host["live-data"] is None
    assert host["extra"].startswith("metadata_parse_version=1\nmetadata_feature_version=1\ntimestamp=101 ")


def test_dump_text(tmp_board, capsys):
    assert whiteboard_dump.main(["dump", tmp_board]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "!! Cluster is in GLOBAL MAINTENANCE mode !!"
    assert "--== Host host1 (id: 1) status ==--" in out
    assert f"{'Score':35}: 1800" in out
    assert out[-2:] == ["Ignored slots:", "  slot 2: field parse version is not an integer: 'garbage'"]


def test_dump_of_a_missing_file(tmp_path, capsys):
    assert whiteboard_dump.main(["dump", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err.startswith("error: cannot open")


def test_dump_runs_as_a_module_of_the_cli(tmp_board):
    """`python -m vdsm_hosted_engine.cli.whiteboard_dump dump FILE --json`, as an admin runs it."""
    run = subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.cli.whiteboard_dump", "dump", tmp_board, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["global_maintenance"] is True


def test_the_codec_module_points_to_the_dump_command_and_fails(tmp_board):
    run = subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.storage.whiteboard", "dump", tmp_board],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == "the whiteboard dump is: python -m vdsm_hosted_engine.cli.whiteboard_dump dump FILE [--json]\n"


def test_the_codec_imports_nothing_above_storage():
    """storage/whiteboard.py is pure: no import of the CLI (it used to import it for `__main__`)."""
    tree = ast.parse(Path(wb.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    ours = sorted(m for m in imported if m and m.startswith("vdsm_hosted_engine"))
    assert ours == ["vdsm_hosted_engine", "vdsm_hosted_engine.errors"]
