"""`hosted-engine --connect-storage` / `--disconnect-storage` on hosted-engine.conf's connection."""

import socket

import pytest

from vdsm_hosted_engine.cli import hosted_engine

pytestmark = pytest.mark.integration

VMID = "11111111-2222-3333-4444-555555555555"


def write_conf(tmp_path, lines):
    path = tmp_path / "hosted-engine.conf"
    path.write_text(f"host_id=1\nvmid={VMID}\nrun_dir={tmp_path / 'run'}\nmnt_root={tmp_path / 'mnt'}\n{lines}")
    return str(path)


def test_dir_domain_needs_no_mount(tmp_path, capsys):
    conf = write_conf(tmp_path, "storage=/srv/he\n")
    assert hosted_engine.main(["--connect-storage", "--config", conf]) == 0
    assert capsys.readouterr().out == "Success: domainType=dir, nothing to mount; the domain is /srv/he\n"


def test_disconnect_refuses_while_the_daemon_answers(tmp_path, capsys):
    """Given a gluster connection and a live daemon socket, when disconnecting, then it refuses and says why."""
    conf = write_conf(tmp_path, "storage=g1:/engine\ndomainType=glusterfs\n")
    (tmp_path / "run").mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(tmp_path / "run" / "hosted-engine.sock"))
        listener.listen(1)
        assert hosted_engine.main(["--disconnect-storage", "--config", conf]) == 1
    assert capsys.readouterr().err == (
        "Failed: vdsm-hosted-engine runs on this host and holds the storage (the Engine VM may run here): "
        "stop it first (systemctl stop vdsm-hosted-engine)\n"
    )


def test_disconnect_of_a_connection_not_mounted_changes_nothing(tmp_path, capsys):
    conf = write_conf(tmp_path, "storage=g1:/engine\ndomainType=glusterfs\n")
    assert hosted_engine.main(["--disconnect-storage", "--config", conf]) == 0
    assert capsys.readouterr().out == f"Success: not mounted: {tmp_path}/mnt/glusterSD/g1:_engine\n"
