"""A lab reloaded from its folder (every hosted-engine-lab command after `up`) keeps what `up` chose."""

import pytest

from vdsm_hosted_engine.lab.lab import Lab

pytestmark = pytest.mark.unit


def test_a_reloaded_lab_keeps_its_subnet_addresses_and_storage(tmp_path):
    """Before the fix, the gateway and the Engine address came from the default subnet, not the saved one."""
    first = Lab(str(tmp_path), switch="hei13", network="192.168.241.0/24")
    first.storage_kind = "gluster"
    first.save()
    again = Lab(str(tmp_path))
    assert (again.switch, str(again.network), again.gateway, again.engine_address, again.storage_kind) == (
        "hei13",
        "192.168.241.0/24",
        "192.168.241.1",
        "192.168.241.100",
        "gluster",
    )
