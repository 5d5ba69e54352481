"""The before_vm_start hook executable, run as a process by the same hook runner vdsmd-style
starts use (virt/hooks.py), reading a real hosted-engine.conf."""

import os
import subprocess

import pytest

from tests.integration.conftest import ROOT, install_hooks
from vdsm_hosted_engine.virt import hooks
from vdsm_hosted_engine.virt.hooks import HookError

DATA = ROOT / "tests" / "data" / "domxml"
VM = "7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e"


@pytest.fixture
def tmp_hooks(tmp_path, monkeypatch):
    """A hooks dir with our before_vm_start executable and a hosted-engine.conf for it."""
    points = ["before_vm_start", "before_vm_migrate_destination"]
    return install_hooks(tmp_path, monkeypatch, points, f"host_id=1\nstorage=/srv/he\nvmid={VM}\n")


def test_hook_injects_the_lease(tmp_hooks):
    edited = hooks.run(str(tmp_hooks), "before_vm_start", (DATA / "engine-without-devices.xml").read_text(), VM)
    assert '<target path="/srv/he/ha_agent/hosted-engine.leases" offset="0"/>' in edited


def test_hook_leaves_other_vms_alone(tmp_hooks):
    text = (DATA / "other-vm.xml").read_text()
    assert hooks.run(str(tmp_hooks), "before_vm_start", text, "11111111-2222-3333-4444-555555555555") == text


def test_hook_refuses_unsafe_xml_and_aborts_the_start(tmp_hooks):
    with pytest.raises(
        HookError,
        match=r"50_hosted_engine failed with exit code 2: before_vm_start/50_hosted_engine: domxml must not contain",
    ):
        hooks.run(str(tmp_hooks), "before_vm_start", (DATA / "billion-laughs.xml").read_text(), VM)


def test_hook_with_a_broken_config_aborts_the_start(tmp_hooks, tmp_path, monkeypatch):
    bad = tmp_path / "bad.conf"
    bad.write_text("host_id=zero\n")
    monkeypatch.setenv("HOSTED_ENGINE_CONF", str(bad))
    with pytest.raises(HookError, match="exit code 2: .*invalid configuration"):
        hooks.run(str(tmp_hooks), "before_vm_start", (DATA / "engine-with-devices.xml").read_text(), VM)


def test_migration_destination_hook_names_the_same_lease(tmp_hooks):
    edited = hooks.run(
        str(tmp_hooks), "before_vm_migrate_destination", (DATA / "engine-with-stale-lease.xml").read_text(), VM
    )
    assert edited.count("<lockspace>hosted-engine</lockspace>") == 1
    assert 'path="/srv/he/ha_agent/hosted-engine.leases" offset="0"' in edited


def test_after_vm_destroy_is_silent_when_no_daemon_runs(tmp_path, monkeypatch):
    """Seen: deploy's undo of the Engine VM start printed this hook's failure to reach a daemon that
    does not run yet; with no socket there is nobody to wake."""
    conf = f"host_id=1\nstorage=/srv/he\nvmid={VM}\nrun_dir={tmp_path}/run\n"
    install_hooks(tmp_path, monkeypatch, ["after_vm_destroy"], conf)
    result = subprocess.run(
        [str(tmp_path / "hooks" / "after_vm_destroy" / "50_hosted_engine")],
        env={**os.environ, "vmId": VM},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_after_vm_destroy_calls_the_daemon_only_for_the_engine_vm(tmp_path, monkeypatch):
    """The hook's side of the contract, against a recording server; the real daemon's answer is
    exercised in tests/integration/cli/test_daemon_cli.py."""
    from vdsm_hosted_engine.rpc.server import Server

    woken = []
    server = Server({"HostedEngine.vmStateChanged": lambda params: woken.append(params) or True})
    (tmp_path / "run").mkdir()
    server.listen_unix(str(tmp_path / "run" / "hosted-engine.sock"))
    server.start()
    try:
        conf = f"host_id=1\nstorage=/srv/he\nvmid={VM}\nrun_dir={tmp_path}/run\n"
        install_hooks(tmp_path, monkeypatch, ["after_vm_destroy"], conf)
        hooks.run(str(tmp_path / "hooks"), "after_vm_destroy", "", "11111111-2222-3333-4444-555555555555")
        assert woken == []  # another VM: nothing to tell
        hooks.run(str(tmp_path / "hooks"), "after_vm_destroy", "", VM)
        assert woken == [{}]
    finally:
        server.stop()
