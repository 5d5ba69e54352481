"""The VM runtime on libvirt's test:///default driver, with real hook scripts run as processes."""

import stat
import textwrap
import threading

import pytest

from tests.integration.conftest import install_hooks
from vdsm_hosted_engine.hooks.lease import LeaseSpec
from vdsm_hosted_engine.observations import VmStatus
from vdsm_hosted_engine.virt import domxml, hooks
from vdsm_hosted_engine.virt.domxml import VmConfig
from vdsm_hosted_engine.virt.hooks import HookError
from vdsm_hosted_engine.virt.runtime import VmRuntime
from vdsm_hosted_engine.virt.xml import BadDomxml, parse_domxml

VM_ID = "7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e"


def write_hook(hooks_dir, point, name, body):
    """An executable hook script `hooks_dir/point/name` (shell)."""
    directory = hooks_dir / point
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


STORAGE = "/srv/he"
LEASE = LeaseSpec("hosted-engine", "engine-vm", f"{STORAGE}/ha_agent/hosted-engine.leases")


@pytest.fixture
def tmp_runtime(tmp_path, monkeypatch):
    """A runtime for a test-driver Engine VM whose hooks directory holds our lease hook (a test adds
    its own scripts beside it)."""
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], f"host_id=1\nstorage={STORAGE}\nvmid={VM_ID}\n")
    events = threading.Event()
    runtime = VmRuntime(
        "test:///default",
        VmConfig(VM_ID, domain_type="test", memory_mib=128, mac="00:16:3e:11:22:33"),
        hooks_dir=str(tmp_path / "hooks"),
        on_event=events.set,
        lease=LEASE,
    )
    runtime.events = events
    yield runtime
    runtime.destroy()
    runtime.close()


def test_start_status_shutdown_destroy(tmp_runtime):
    assert tmp_runtime.status() == (VmStatus.DOWN, "")
    tmp_runtime.start()
    assert tmp_runtime.status()[0] is VmStatus.UP
    assert tmp_runtime.events.wait(5)
    tmp_runtime.events.clear()
    tmp_runtime.shutdown(grace=5, poll=0.05)
    assert tmp_runtime.events.wait(5)
    assert tmp_runtime.status() == (VmStatus.DOWN, "shutdown")
    tmp_runtime.start()
    tmp_runtime.destroy()
    assert tmp_runtime.events.wait(5)
    assert tmp_runtime.status()[0] is VmStatus.DOWN


def test_before_vm_start_hooks_edit_the_domxml_in_sorted_order(tmp_runtime, tmp_path):
    hooks_dir = tmp_path / "hooks"
    log = tmp_path / "order"
    write_hook(
        hooks_dir,
        "before_vm_start",
        "20_second",
        f'echo second >> {log}\nsed -i "s|<vcpu>2</vcpu>|<vcpu>3</vcpu>|" "$_hook_domxml"\n',
    )
    write_hook(hooks_dir, "before_vm_start", "10_first", f'echo "first $vmId" >> {log}\n')
    (hooks_dir / "before_vm_start" / "30_not_executable").write_text("#!/bin/sh\nexit 1\n")
    tmp_runtime.start()
    assert log.read_text() == f"first {VM_ID}\nsecond\n"
    dom = tmp_runtime._domain()
    assert "<vcpu placement='static'>3</vcpu>" in dom.XMLDesc()


@pytest.mark.parametrize("rc, runs_second", [(1, True), (2, False)])
def test_a_failing_before_hook_aborts_the_start(tmp_runtime, tmp_path, rc, runs_second):
    hooks_dir = tmp_path / "hooks"
    marker = tmp_path / "second-ran"
    write_hook(hooks_dir, "before_vm_start", "10_fail", f"echo 'no way' >&2\nexit {rc}\n")
    write_hook(hooks_dir, "before_vm_start", "20_next", f"touch {marker}\n")
    with pytest.raises(HookError, match=f"hook before_vm_start/10_fail failed with exit code {rc}: no way"):
        tmp_runtime.start()
    assert tmp_runtime.status()[0] is VmStatus.DOWN
    assert marker.exists() is runs_second


def test_a_hook_that_breaks_the_domxml_aborts_the_start(tmp_runtime, tmp_path):
    # After our lease hook (50_), which would refuse the broken domxml itself.
    write_hook(tmp_path / "hooks", "before_vm_start", "90_break", 'echo "<not-a-domain/>" > "$_hook_domxml"\n')
    with pytest.raises(BadDomxml, match="root is <not-a-domain>"):
        tmp_runtime.start()


def test_after_vm_destroy_hooks_run_when_the_vm_stops(tmp_runtime, tmp_path):
    marker = tmp_path / "destroyed"
    write_hook(tmp_path / "hooks", "after_vm_destroy", "10_note", f"echo $vmId > {marker}\n")
    tmp_runtime.start()
    tmp_runtime.destroy()
    for _ in range(100):
        if marker.exists():
            break
        threading.Event().wait(0.05)
    assert marker.read_text().strip() == VM_ID


def test_after_hook_failures_are_only_logged(tmp_path):
    write_hook(tmp_path / "hooks", "after_vm_start", "10_fail", "exit 1\n")
    assert hooks.run(str(tmp_path / "hooks"), "after_vm_start", "<domain/>", VM_ID) == "<domain/>"


def test_domxml_has_what_the_engine_vm_needs():
    vm = VmConfig(
        VM_ID,
        memory_mib=4096,
        vcpus=4,
        disk_path="/d/images/a/b",
        mac="00:16:3e:aa:bb:cc",
        kernel="/boot/vmlinuz",
        initrd="/boot/initrd",
        cmdline="console=ttyS0",
    )
    root = parse_domxml(domxml.build(vm))
    assert root.get("type") == "kvm"
    assert root.findtext("uuid") == VM_ID and root.findtext("memory") == "4096" and root.findtext("vcpu") == "4"
    assert root.findtext("on_lockfailure") == "poweroff"
    assert root.find("features/acpi") is not None  # else libvirt runs qemu -no-acpi: no shutdown request
    assert root.find("devices/disk/source").get("file") == "/d/images/a/b"
    assert root.find("devices/interface/source").get("bridge") == "ovirtmgmt"
    assert root.find("devices/interface/mac").get("address") == "00:16:3e:aa:bb:cc"
    assert root.findtext("os/kernel") == "/boot/vmlinuz" and root.findtext("os/cmdline") == "console=ttyS0"
    assert root.find("devices/lease") is None  # the before_vm_start hook adds it


@pytest.mark.parametrize(
    "text, message",
    [
        ("<domain", "not well-formed"),
        (
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><domain>&b;</domain>',
            "DTD or entity",
        ),
        ("<network/>", "root is <network>"),
    ],
)
def test_unsafe_or_wrong_domxml_is_refused(text, message):
    with pytest.raises(BadDomxml, match=message):
        parse_domxml(text)


def test_vm_config_validation():
    with pytest.raises(Exception, match="is not a UUID"):
        VmConfig("nope")
    with pytest.raises(Exception, match="lacks vmId"):
        VmConfig.from_mapping({})
    assert VmConfig.from_mapping({"vmId": VM_ID, "memSize": "128", "domainType": "test"}).memory_mib == 128
