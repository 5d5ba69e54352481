"""Storage domain checks that need no sanlock: paths, identity, damaged layouts."""

import json
import os

import pytest

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import DomainExists, DomainNotFound, StorageUnavailable
from vdsm_hosted_engine.storage.domain import DomainIdentity, StorageDomain, check_directory


def make_layout(root, identity=None, sizes=None):
    """A domain directory with files of the right sizes (their content is not read here)."""
    ha = root / "ha_agent"
    ha.mkdir()
    sizes = sizes or {}
    for name, size in (
        (constants.LOCKSPACE_FILE, constants.SANLOCK_ALIGNMENT),
        (constants.LEASES_FILE, constants.SANLOCK_ALIGNMENT),
        (constants.METADATA_FILE, constants.METADATA_SIZE),
    ):
        if sizes.get(name, size) is not None:
            (ha / name).write_bytes(bytes(sizes.get(name, size)))
    text = (
        identity if identity is not None else DomainIdentity("0e3d5ad2-5d6a-4bb8-9b46-53b59ec8c1f4", 1, 5.0).to_json()
    )
    (ha / constants.DOMAIN_ID_FILE).write_text(text)
    return str(root)


def test_open_reads_identity_and_paths(tmp_path):
    domain = StorageDomain.open(make_layout(tmp_path))
    assert domain.identity == DomainIdentity("0e3d5ad2-5d6a-4bb8-9b46-53b59ec8c1f4", 1, 5.0)
    assert domain.lockspace_path == f"{tmp_path}/ha_agent/hosted-engine.lockspace"
    assert domain.metadata_path == f"{tmp_path}/ha_agent/hosted-engine.metadata"
    assert domain.leases_path == f"{tmp_path}/ha_agent/hosted-engine.leases"
    assert domain.shared_conf_path == f"{tmp_path}/ha_agent/hosted-engine.conf"
    assert domain.images_dir == f"{tmp_path}/images"


@pytest.mark.parametrize(
    "identity, message",
    [
        ("{not json", "damaged domain identity"),
        ("[]", "damaged domain identity (not a JSON object)"),
        (json.dumps({"sd_uuid": "x", "io_timeout": 1, "created": 0, "version": 1}), "damaged domain identity"),
        (
            json.dumps(
                {"sd_uuid": "0e3d5ad2-5d6a-4bb8-9b46-53b59ec8c1f4", "io_timeout": 1, "created": 0, "version": 9}
            ),
            "newer",
        ),
    ],
)
def test_open_refuses_a_damaged_identity(tmp_path, identity, message):
    with pytest.raises(DomainNotFound, match=message.replace("(", r"\(").replace(")", r"\)")):
        StorageDomain.open(make_layout(tmp_path, identity=identity))


def test_open_refuses_missing_or_short_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with pytest.raises(DomainNotFound, match="hosted-engine.lockspace is missing"):
        StorageDomain.open(make_layout(a, sizes={constants.LOCKSPACE_FILE: None}))
    with pytest.raises(DomainNotFound, match="hosted-engine.metadata is 4096 bytes, expected 8196096"):
        StorageDomain.open(make_layout(b, sizes={constants.METADATA_FILE: 4096}))


def test_open_on_plain_directories(tmp_path):
    with pytest.raises(DomainNotFound, match="is not a hosted-engine storage domain"):
        StorageDomain.open(str(tmp_path))
    with pytest.raises(DomainNotFound, match="does not exist"):
        StorageDomain.open(str(tmp_path / "absent"))


def test_check_directory(tmp_path):
    check_directory(str(tmp_path))
    assert os.listdir(tmp_path) == []  # the O_DIRECT probe cleans up
    with pytest.raises(DomainNotFound, match="not absolute"):
        check_directory("relative")
    with pytest.raises(DomainNotFound, match="does not exist"):
        check_directory(str(tmp_path / "nope"))
    (tmp_path / "file").write_text("")
    with pytest.raises(DomainNotFound, match="is not a directory"):
        check_directory(str(tmp_path / "file"))


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm")
def test_check_directory_without_o_direct():
    """tmpfs on this kernel has no O_DIRECT: the domain must refuse it, not fail later."""
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
        try:
            fd = os.open(os.path.join(d, "p"), os.O_CREAT | os.O_WRONLY | os.O_DIRECT)
        except OSError:
            with pytest.raises(StorageUnavailable, match="does not support O_DIRECT"):
                check_directory(d)
        else:
            os.close(fd)
            pytest.skip("this kernel's tmpfs supports O_DIRECT")


def test_create_refuses_existing_domain_before_touching_sanlock(tmp_path):
    make_layout(tmp_path)
    before = sorted(os.listdir(tmp_path / "ha_agent"))
    with pytest.raises(DomainExists, match="already holds a hosted-engine storage domain"):
        StorageDomain.create(str(tmp_path), io_timeout=1)
    assert sorted(os.listdir(tmp_path / "ha_agent")) == before
    assert sorted(os.listdir(tmp_path)) == ["ha_agent"]


def test_create_rejects_bad_io_timeout(tmp_path):
    with pytest.raises(ValueError, match="io_timeout 0 out of range"):
        StorageDomain.create(str(tmp_path), io_timeout=0)
