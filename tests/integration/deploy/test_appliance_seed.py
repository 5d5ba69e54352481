"""The lab appliance reads deploy's cloud-init seed: booted with qemu (TCG) outside the lab, with no
address on its kernel command line and the NoCloud seed ISO as its CD-ROM, it takes the static
address, default route and hostname from the seed (said on its serial console). An address on the
command line (the lab's way today) still wins."""

import shutil
import subprocess
import time

import pytest

from vdsm_hosted_engine.deploy import cloud_init
from vdsm_hosted_engine.lab import appliance

MAC = "00:16:3e:00:00:42"


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no qemu-system-x86_64")
@pytest.mark.parametrize(
    "cmdline, expected",
    [
        ("", "ip=192.0.2.10/24 gw=192.0.2.1 source=cloud-init hostname=engine "),
        (" ip4=198.51.100.7/24 gw4=198.51.100.1", "ip=198.51.100.7/24 gw=198.51.100.1 source=cmdline "),
    ],
)
def test_the_appliance_configures_itself_from_the_seed(tmp_path, cmdline, expected):
    image = appliance.build(str(tmp_path / "cache"))
    disk = tmp_path / "disk.raw"
    shutil.copyfile(image.disk, disk)
    seed = tmp_path / "seed.iso"
    network = cloud_init.StaticNetwork("192.0.2.10/24", "192.0.2.1", ("192.0.2.53",))
    cloud_init.build_seed(cloud_init.Seed("i-42", "engine.example.com", MAC, network), str(seed))
    console = tmp_path / "console.log"
    qemu = subprocess.Popen(
        [
            "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "128", "-display", "none", "-no-reboot",
            "-kernel", image.kernel, "-initrd", image.initrd, "-append", "console=ttyS0 quiet panic=-1" + cmdline,
            "-drive", f"file={disk},if=virtio,format=raw",
            "-drive", f"file={seed},media=cdrom,if=ide,index=2,readonly=on",
            "-nic", f"user,model=virtio-net-pci,mac={MAC}",
            "-serial", f"file:{console}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # Wait for the boot to reach its last line (a wait for the guest, not a speed check).
        deadline = time.monotonic() + 300
        text = ""
        while "ENGINE APPLIANCE UP" not in text and qemu.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            text = console.read_text(errors="replace") if console.exists() else ""
        line = next((x for x in text.splitlines() if "ENGINE APPLIANCE UP" in x), text[-2000:])
        assert expected in line, line
    finally:
        if qemu.poll() is None:
            qemu.kill()
        qemu.wait()
