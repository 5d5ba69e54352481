"""Whiteboard file reads (O_DIRECT) and the dump command; writes need sanlock (integration)."""

import ast
import json
import subprocess
import sys
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
