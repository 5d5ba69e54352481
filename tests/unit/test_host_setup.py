"""--configure-host: only our keys change, comments and other lines stay, idempotent, dry run."""

import subprocess
import sys

from vdsm_hosted_engine import host_setup

QEMU_CONF = """# Master configuration file for the QEMU driver.
#lock_manager = "lockd"
user = "root"
"""


def test_set_keys_uncomments_replaces_or_appends():
    assert host_setup.set_keys(QEMU_CONF, {"lock_manager": '"sanlock"'}) == (
        '# Master configuration file for the QEMU driver.\nlock_manager = "sanlock"\nuser = "root"\n'
    )
    assert (
        host_setup.set_keys('lock_manager = "lockd"\n', {"lock_manager": '"sanlock"'}) == 'lock_manager = "sanlock"\n'
    )
    assert host_setup.set_keys("", {"auto_disk_leases": "0"}) == "auto_disk_leases = 0\n"


def run(root, *args):
    return subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.cli.hosted_engine", "--configure-host", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_configure_host_dry_run_then_apply_then_nothing(tmp_path):
    (tmp_path / "etc/libvirt").mkdir(parents=True)
    (tmp_path / "etc/libvirt/qemu.conf").write_text(QEMU_CONF)
    dry = run(tmp_path, "--dry-run")
    assert (
        dry.returncode == 0
        and '+lock_manager = "sanlock"' in dry.stdout
        and "dry run: 2 file(s) would change" in dry.stdout
    )
    assert (tmp_path / "etc/libvirt/qemu.conf").read_text() == QEMU_CONF
    assert not (tmp_path / "etc/libvirt/qemu-sanlock.conf").exists()
    applied = run(tmp_path)
    assert "Success: changed" in applied.stdout
    assert 'lock_manager = "sanlock"' in (tmp_path / "etc/libvirt/qemu.conf").read_text()
    assert (
        tmp_path / "etc/libvirt/qemu-sanlock.conf"
    ).read_text() == "auto_disk_leases = 0\nrequire_lease_for_disks = 0\n"
    again = run(tmp_path)
    assert "nothing to change" in again.stdout


def test_sanlock_without_watchdog_is_reported(tmp_path):
    (tmp_path / "etc/sanlock").mkdir(parents=True)
    (tmp_path / "etc/sanlock/sanlock.conf").write_text("# sanlock\nuse_watchdog = 0\n")
    assert host_setup.sanlock_warnings(str(tmp_path)) == [
        f"{tmp_path}/etc/sanlock/sanlock.conf: use_watchdog = 0: a host that hangs could keep the Engine VM lease; "
        "enable wdmd"
    ]
    assert "warning: " in run(tmp_path, "--dry-run").stdout
    assert host_setup.sanlock_warnings(str(tmp_path / "none")) == []
