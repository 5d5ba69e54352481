"""The lab's Engine appliance, built from this machine's Debian packages (no download).

Three files: the cloud kernel (`linux-image-cloud-amd64`), an initramfs with busybox (`busybox-static`),
the virtio modules the kernel needs (it has them as modules, ENVIRONMENT.md) and `appliance-init.sh`
as its init, and a small ext4 disk image (`mke2fs -d`, no mount needed) on which every boot appends a
record. Deploy copies the disk into the storage domain like any appliance image and boots the kernel
directly (`OVEHOSTED_VM/kernel|initrd|cmdline`); with no address on its command line its init reads
deploy's cloud-init NoCloud seed from the CD-ROM instead. Built once into a cache directory keyed by the
inputs' digest.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources

from vdsm_hosted_engine.errors import HostedEngineError

logger = logging.getLogger(__name__)

BUSYBOX = "/bin/busybox"
# What the guest loads: network and disk drivers, the ACPI power button and its event device
# (their dependencies are found with modinfo).
# The CD-ROM (IDE on the pc machine) and ISO 9660 read the cloud-init seed deploy attaches.
WANTED_MODULES = ("virtio_pci", "virtio_net", "virtio_blk", "button", "evdev", "ata_piix", "sr_mod", "isofs")
DISK_MIB = 64
HEALTHY_TEXT = "DB Up!Welcome to Health Status!"


class ApplianceError(HostedEngineError):
    """The appliance cannot be built on this machine (a package is missing)."""


@dataclass(frozen=True)
class Appliance:
    kernel: str
    initrd: str
    disk: str

    def cmdline(self, address: str, prefix: int, gateway: str) -> str:
        return f"console=ttyS0 quiet panic=-1 ip4={address}/{prefix} gw4={gateway}"


def kernel_version() -> str:
    """The newest installed cloud kernel's version."""
    found = sorted(glob.glob("/boot/vmlinuz-*-cloud-amd64"))
    if not found:
        raise ApplianceError("no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64 (make setup)")
    return os.path.basename(found[-1])[len("vmlinuz-") :]


def _modinfo(kernel: str, module: str, field: str) -> str:
    result = subprocess.run(["modinfo", "-k", kernel, "-F", field, module], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ApplianceError(f"modinfo cannot find {module} for {kernel}: {result.stderr.strip()}")
    return result.stdout.strip()


def module_order(kernel: str, wanted: tuple[str, ...] = WANTED_MODULES) -> list[tuple[str, str]]:
    """(name, path) of `wanted` and everything they depend on, dependencies first."""
    order: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        path = _modinfo(kernel, name, "filename")
        if path == "(builtin)":
            return
        for dependency in filter(None, _modinfo(kernel, name, "depends").split(",")):
            visit(dependency)
        if not path.endswith(".ko"):
            raise ApplianceError(f"{path}: compressed modules are not supported (busybox insmod)")
        order.append((name, path))

    for name in wanted:
        visit(name)
    return order


def _newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the kernel's `newc` format: (path, mode, data); directories have no data."""
    out = io.BytesIO()
    for ino, (path, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        name = path.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
        out.write(b"070701" + b"".join(b"%08X" % value for value in fields) + name)
        out.write(b"\0" * (-(110 + len(name)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
    return out.getvalue()


def _init_script() -> bytes:
    return b"#!/bin/busybox sh\n" + resources.files("vdsm_hosted_engine.lab").joinpath("appliance-init.sh").read_bytes()


def build_initrd(kernel: str) -> bytes:
    init = _init_script()
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    modules = module_order(kernel)
    entries: list[tuple[str, int, bytes]] = [
        (d, 0o40755, b"") for d in ("bin", "proc", "sys", "dev", "tmp", "mnt", "www", "lib", "lib/modules")
    ]
    entries += [("bin/busybox", 0o100755, busybox), ("init", 0o100755, init)]
    for name, path in modules:
        with open(path, "rb") as f:
            entries.append((f"lib/modules/{name}.ko", 0o100644, f.read()))
    entries.append(("lib/modules/order", 0o100644, "".join(f"{name}\n" for name, _ in modules).encode()))
    return gzip.compress(_newc(entries), compresslevel=1)


def build(cache_dir: str) -> Appliance:
    """The appliance's files under `cache_dir` (built when missing or out of date)."""
    if not os.path.exists(BUSYBOX):
        raise ApplianceError(f"{BUSYBOX} is missing: install busybox-static (make setup)")
    kernel = kernel_version()
    init = _init_script()
    inputs = init + kernel.encode() + str(DISK_MIB).encode() + str(WANTED_MODULES).encode()
    digest = hashlib.sha1(inputs).hexdigest()[:12]
    target = os.path.join(cache_dir, f"appliance-{digest}")
    appliance = Appliance(
        os.path.join(target, "vmlinuz"), os.path.join(target, "initrd.img"), os.path.join(target, "disk.raw")
    )
    if os.path.exists(os.path.join(target, "complete")):
        return appliance
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="appliance-", dir=cache_dir)
    try:
        shutil.copyfile(f"/boot/vmlinuz-{kernel}", os.path.join(work, "vmlinuz"))
        with open(os.path.join(work, "initrd.img"), "wb") as f:
            f.write(build_initrd(kernel))
        content = os.path.join(work, "content")
        os.mkdir(content)
        result = subprocess.run(
            [
                "mke2fs",
                "-q",
                "-F",
                "-t",
                "ext4",
                "-L",
                "engine",
                "-d",
                content,
                os.path.join(work, "disk.raw"),
                f"{DISK_MIB}M",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ApplianceError(f"mke2fs failed: {result.stderr.strip()}")
        os.rmdir(content)
        with open(os.path.join(work, "complete"), "w", encoding="utf-8") as f:
            f.write(kernel + "\n")
        try:
            os.rename(work, target)
        except OSError:  # built meanwhile by another process
            shutil.rmtree(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    logger.info("built the lab appliance in %s", target)
    return appliance


def boot_records(disk: str) -> list[tuple[int, str]]:
    """The boot records on a stopped appliance disk (read with debugfs, nothing mounted)."""
    result = subprocess.run(["debugfs", "-R", "cat /boot.log", disk], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ApplianceError(f"debugfs cannot read {disk}: {result.stderr.strip()}")
    records = []
    for line in result.stdout.splitlines():
        number, _, boot_id = line.partition(" ")
        if number.isdigit():
            records.append((int(number), boot_id.strip()))
    return records
