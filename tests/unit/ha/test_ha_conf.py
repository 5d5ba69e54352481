"""Local maintenance survives a reboot: it lives in ha.conf beside hosted-engine.conf (oVirt's place)."""

import pytest

from vdsm_hosted_engine.ha import ha_conf

pytestmark = pytest.mark.unit


def test_the_flag_lives_beside_the_host_configuration(tmp_path):
    conf = tmp_path / "etc" / "hosted-engine.conf"
    assert ha_conf.path_for(str(conf), "/run/x") == str(tmp_path / "etc" / "ha.conf")
    assert ha_conf.path_for("", "/run/x") == "/run/x/ha.conf"


def test_set_and_read_back_keeping_other_keys(tmp_path):
    path = str(tmp_path / "ha.conf")
    assert ha_conf.local_maintenance(path) is False  # no file: off
    (tmp_path / "ha.conf").write_text("other=1\nlocal_maintenance=False\n")
    ha_conf.set_local_maintenance(path, True)
    assert ha_conf.local_maintenance(path) is True
    assert (tmp_path / "ha.conf").read_text() == "other=1\nlocal_maintenance=True\n"
    ha_conf.set_local_maintenance(path, False)
    assert ha_conf.local_maintenance(path) is False
    assert not (tmp_path / "ha.conf.tmp").exists()
