"""Creating a storage domain on real sanlock: layout, refusal, force, clean failure."""

import os
import subprocess
import sys

import pytest

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.errors import DomainExists
from vdsm_hosted_engine.storage.domain import StorageDomain

pytestmark = pytest.mark.usefixtures("sanlock_admin")


def test_create_lays_out_the_domain(tmp_domain):
    assert sorted(os.listdir(tmp_domain.path)) == ["ha_agent", "images"]
    assert sorted(os.listdir(tmp_domain.ha_agent_dir)) == [
        "hosted-engine.domain",
        "hosted-engine.leases",
        "hosted-engine.lockspace",
        "hosted-engine.metadata",
    ]
    assert tmp_domain.identity.io_timeout == 1
    info = tmp_domain.lockspace().read()
    assert (info.name, info.io_timeout) == (b"hosted-engine", 1)
    lease = tmp_domain.engine_vm_lease().read()
    assert (lease.lockspace, lease.resource, lease.version) == (b"hosted-engine", b"engine-vm", 0)
    assert tmp_domain.engine_vm_lease().owners() == []
    assert os.path.getsize(tmp_domain.metadata_path) == constants.METADATA_SIZE
    board = tmp_domain.whiteboard().read()
    assert (board.hosts, board.invalid, board.global_maintenance) == ({}, {}, False)
    assert StorageDomain.open(tmp_domain.path).identity == tmp_domain.identity


def test_refuses_an_existing_domain_unless_forced(tmp_domain):
    before = {f: os.stat(os.path.join(tmp_domain.ha_agent_dir, f)).st_ino for f in os.listdir(tmp_domain.ha_agent_dir)}
    with pytest.raises(DomainExists):
        StorageDomain.create(tmp_domain.path, io_timeout=1)
    after = {f: os.stat(os.path.join(tmp_domain.ha_agent_dir, f)).st_ino for f in os.listdir(tmp_domain.ha_agent_dir)}
    assert after == before
    replaced = StorageDomain.create(tmp_domain.path, io_timeout=2, force=True)
    assert replaced.identity.sd_uuid != tmp_domain.identity.sd_uuid
    assert replaced.lockspace().read().io_timeout == 2
    assert sorted(os.listdir(tmp_domain.path)) == ["ha_agent", "images"]


def test_a_failure_midway_leaves_nothing(tmp_path):
    """Given no sanlock daemon to write the lockspace, creation fails and the directory stays empty."""
    domain = tmp_path / "domain"
    domain.mkdir()
    code = (
        "import sys\n"
        "from vdsm_hosted_engine.storage.domain import StorageDomain\n"
        "from vdsm_hosted_engine.errors import SanlockError\n"
        "try:\n"
        "    StorageDomain.create(sys.argv[1], io_timeout=1)\n"
        "except SanlockError as e:\n"
        "    print(e)\n"
        "    sys.exit(3)\n"
    )
    env = {**os.environ, "SANLOCK_RUN_DIR": str(tmp_path / "no-daemon-here")}
    result = subprocess.run([sys.executable, "-c", code, str(domain)], env=env, capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("sanlock write_lockspace failed:")
    assert os.listdir(domain) == []
