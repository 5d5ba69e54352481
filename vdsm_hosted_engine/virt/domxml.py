"""The Engine VM's libvirt domain XML, built from its configuration (pure).

The sanlock `<lease>` is not put here: the before_vm_start hook injects it, exactly as it would for a
VM started by vdsmd, so one mechanism serves both. `<on_lockfailure>poweroff</on_lockfailure>` makes
libvirt power the VM off if sanlock takes the lease away (ENVIRONMENT.md).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.virt.xml import to_string

_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


@dataclass(frozen=True)
class VmConfig:
    """What the Engine VM is. Keys of `from_mapping` follow oVirt's vm.conf (vmId, vmName, memSize...)."""

    vm_uuid: str
    name: str = "HostedEngine"
    memory_mib: int = 4096
    vcpus: int = 2
    domain_type: str = "kvm"  # kvm | qemu (TCG) | test (libvirt's test driver)
    disk_path: str | None = None
    disk_format: str = "raw"
    bridge: str = "ovirtmgmt"
    mac: str | None = None
    kernel: str | None = None  # direct kernel boot (lab appliance)
    initrd: str | None = None
    cmdline: str | None = None
    cdrom: str | None = None  # an ISO attached read-only (the cloud-init NoCloud seed)

    def __post_init__(self) -> None:
        try:
            uuid.UUID(self.vm_uuid)
        except ValueError:
            raise InvalidRequest(f"vmId {self.vm_uuid!r} is not a UUID") from None
        if self.mac is not None and not _MAC.match(self.mac):
            raise InvalidRequest(f"macAddr {self.mac!r} is not a lowercase MAC address")
        if self.domain_type not in ("kvm", "qemu", "test"):
            raise InvalidRequest(f"domain type {self.domain_type!r} is not kvm, qemu or test")
        if self.memory_mib < 64 or self.vcpus < 1:
            raise InvalidRequest("memSize must be >= 64 MiB and smp >= 1")

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> VmConfig:
        try:
            return cls(
                vm_uuid=values["vmId"],
                name=values.get("vmName", "HostedEngine"),
                memory_mib=int(values.get("memSize", "4096")),
                vcpus=int(values.get("smp", "2")),
                domain_type=values.get("domainType", "kvm"),
                disk_path=values.get("diskPath"),
                disk_format=values.get("diskFormat", "raw"),
                bridge=values.get("bridge", "ovirtmgmt"),
                mac=values.get("macAddr"),
                kernel=values.get("kernel"),
                initrd=values.get("initrd"),
                cmdline=values.get("cmdline"),
                cdrom=values.get("cdrom"),
            )
        except KeyError as e:
            raise InvalidRequest(f"VM configuration lacks {e.args[0]}") from None
        except ValueError as e:
            raise InvalidRequest(f"VM configuration: {e}") from None


def build(vm: VmConfig) -> str:
    """The domxml for `vm` (a transient domain: createXML, gone when it stops)."""
    domain = etree.Element("domain", type=vm.domain_type)
    etree.SubElement(domain, "name").text = vm.name
    etree.SubElement(domain, "uuid").text = vm.vm_uuid
    etree.SubElement(domain, "memory", unit="MiB").text = str(vm.memory_mib)
    etree.SubElement(domain, "vcpu").text = str(vm.vcpus)
    os_ = etree.SubElement(domain, "os")
    etree.SubElement(os_, "type", arch="x86_64", machine="pc").text = "hvm"
    if vm.kernel:
        etree.SubElement(os_, "kernel").text = vm.kernel
        if vm.initrd:
            etree.SubElement(os_, "initrd").text = vm.initrd
        if vm.cmdline:
            etree.SubElement(os_, "cmdline").text = vm.cmdline
    else:
        etree.SubElement(os_, "boot", dev="hd")
    features = etree.SubElement(domain, "features")  # ACPI: a shutdown request reaches the guest
    etree.SubElement(features, "acpi")
    etree.SubElement(features, "apic")
    etree.SubElement(domain, "on_poweroff").text = "destroy"
    etree.SubElement(domain, "on_reboot").text = "restart"
    etree.SubElement(domain, "on_crash").text = "destroy"
    etree.SubElement(domain, "on_lockfailure").text = "poweroff"
    devices = etree.SubElement(domain, "devices")
    if vm.disk_path:
        disk = etree.SubElement(devices, "disk", type="file", device="disk")
        etree.SubElement(disk, "driver", name="qemu", type=vm.disk_format, cache="none", io="threads")
        etree.SubElement(disk, "source", file=vm.disk_path)
        etree.SubElement(disk, "target", dev="vda", bus="virtio")
    if vm.cdrom:
        cdrom = etree.SubElement(devices, "disk", type="file", device="cdrom")
        etree.SubElement(cdrom, "driver", name="qemu", type="raw")
        etree.SubElement(cdrom, "source", file=vm.cdrom)
        etree.SubElement(cdrom, "target", dev="hdc", bus="ide")
        etree.SubElement(cdrom, "readonly")
    nic = etree.SubElement(devices, "interface", type="bridge")
    etree.SubElement(nic, "source", bridge=vm.bridge)
    if vm.mac:
        etree.SubElement(nic, "mac", address=vm.mac)
    etree.SubElement(nic, "model", type="virtio")
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    console = etree.SubElement(devices, "console", type="pty")
    etree.SubElement(console, "target", type="serial", port="0")
    return to_string(domain)
