"""Replacing a file whole: atomic, never through a symlink, never widening its mode."""

import os
import stat

import pytest

from vdsm_hosted_engine.storage import safe_file


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_the_given_mode_and_an_old_one_keeps_its_own(tmp_path):
    path = tmp_path / "f"
    safe_file.replace(str(path), b"one\n", mode=0o640)
    assert (path.read_bytes(), mode(path)) == (b"one\n", 0o640)
    path.chmod(0o600)
    safe_file.replace(str(path), b"two\n", mode=0o644)
    assert (path.read_bytes(), mode(path)) == (b"two\n", 0o600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "f").symlink_to(victim)
    safe_file.replace(str(tmp_path / "f"), b"new\n")
    assert victim.read_text() == "keep\n"
    assert not (tmp_path / "f").is_symlink() and (tmp_path / "f").read_bytes() == b"new\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old\n")
    with pytest.raises(TypeError):
        safe_file.replace(str(path), "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
