"""The checks each answer gets at its question (seen passing as a new admin tried deploy: /proc and
/tmp as shared storage, eth0 as the bridge, a 26-byte text file as the appliance, an unreachable
gateway accepted until after the summary)."""

import subprocess
import tarfile

import pytest

from vdsm_hosted_engine.deploy import machine
from vdsm_hosted_engine.deploy import validators as v
from vdsm_hosted_engine.deploy.validators import Context

STRICT = Context()
LOCAL = Context(allow_local_storage=True)


@pytest.mark.parametrize("path, fstype", [("/proc", "proc"), ("/sys", "sysfs")])
def test_storage_on_a_pseudo_filesystem_is_refused_even_when_local_storage_is_allowed(path, fstype):
    with pytest.raises(ValueError, match=f"^{path} is on {fstype}, a kernel pseudo-filesystem"):
        v.storage_path(path, {}, LOCAL)


def test_storage_on_a_local_filesystem_is_refused_unless_allowed(tmp_path):
    fstype = machine.filesystem_type(str(tmp_path))
    with pytest.raises(ValueError, match=f"is on {fstype}, a (local|memory) filesystem other hosts cannot see.*"
                       "--allow-local-storage"):  # fmt: skip
        v.storage_path(str(tmp_path), {}, STRICT)
    assert v.storage_path(f"{tmp_path}/", {}, LOCAL) == str(tmp_path)


@pytest.mark.skipif(machine.filesystem_type("/dev/shm") != "tmpfs", reason="no tmpfs at /dev/shm here")
def test_storage_on_tmpfs_is_a_memory_filesystem():
    with pytest.raises(ValueError, match="^/dev/shm is on tmpfs, a memory filesystem other hosts cannot see"):
        v.storage_path("/dev/shm", {}, STRICT)


def test_the_bridge_must_be_a_bridge(tmp_path):
    (tmp_path / "ovirtmgmt" / "bridge").mkdir(parents=True)
    (tmp_path / "eth0").mkdir()
    assert v.bridge("ovirtmgmt", {}, STRICT, sys_class_net=str(tmp_path)) == "ovirtmgmt"
    with pytest.raises(ValueError, match="^eth0 is a network port, not a bridge: create a bridge over it"):
        v.bridge("eth0", {}, STRICT, sys_class_net=str(tmp_path))
    with pytest.raises(ValueError, match="^br9 does not exist on this host"):
        v.bridge("br9", {}, STRICT, sys_class_net=str(tmp_path))
    # libvirt's test driver plugs no NIC: any valid name goes
    assert v.bridge("br9", {}, Context(domain_type="test"), sys_class_net=str(tmp_path)) == "br9"


def test_a_text_file_is_not_an_appliance(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a disk image!\n")  # 26 bytes, read by qemu-img as raw
    with pytest.raises(ValueError, match=rf"^{text} is not a VM disk image: qemu-img reads it as raw .*\(26 bytes\)"):
        v.appliance(str(text), {}, STRICT)


def test_an_ova_is_refused_with_what_to_do(tmp_path):
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    ova = tmp_path / "engine.ova"
    (tmp_path / "vm.ovf").write_text("<Envelope/>")
    with tarfile.open(ova, "w") as tar:
        tar.add(tmp_path / "vm.ovf", "master/vms/vm.ovf")
        tar.add(disk, "images/disk.qcow2")
    with pytest.raises(ValueError, match="is an OVA archive: extract its disk image"):
        v.appliance(str(ova), {}, STRICT)


def test_disk_images_are_appliances(tmp_path):
    qcow2 = tmp_path / "a.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "16M"], check=True)
    mbr = tmp_path / "mbr.raw"
    mbr.write_bytes(b"\0" * 510 + b"\x55\xaa" + b"\0" * 1024)
    ext4 = tmp_path / "ext4.raw"
    subprocess.run(["truncate", "-s", "8M", str(ext4)], check=True)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", str(ext4)], check=True)
    for image in (qcow2, mbr, ext4):
        assert v.appliance(str(image), {}, STRICT) == str(image)


def test_the_disk_must_hold_the_appliance(tmp_path):
    image = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "3G"], check=True)
    answers = {"OVEHOSTED_VM/applianceImage": str(image)}
    with pytest.raises(ValueError, match="^2 GiB is smaller than the appliance's virtual size \\(3 GiB\\)"):
        v.disk_size("2", answers, STRICT)
    assert v.disk_size("3", answers, STRICT) == 3
    with pytest.raises(ValueError, match=f"^65536 GiB is more than the .* GiB free on {tmp_path}"):
        v.disk_size("65536", {"OVEHOSTED_STORAGE/path": str(tmp_path)}, STRICT)


def test_the_gateway_is_pinged_at_its_question_when_the_test_is_ping():
    ping = {"OVEHOSTED_NETWORK/networkTest": "ping"}
    assert v.gateway("127.0.0.1", ping, STRICT) == "127.0.0.1"
    # 0.0.0.0/8 is never routed: ping fails at once
    with pytest.raises(ValueError, match="^the gateway 0.0.0.1 does not answer the ping test"):
        v.gateway("0.0.0.1", ping, STRICT)
    assert v.gateway("0.0.0.1", {"OVEHOSTED_NETWORK/networkTest": "none"}, STRICT) == "0.0.0.1"


def test_the_tcp_test_connects_at_the_port_question():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        answers = {"OVEHOSTED_NETWORK/networkTest": "tcp", "OVEHOSTED_NETWORK/networkTestTarget": "127.0.0.1"}
        assert v.test_port(str(port), answers, STRICT) == port
    with pytest.raises(ValueError, match=f"^port {port} of 127.0.0.1 does not answer the tcp test"):
        v.test_port(str(port), answers, STRICT)


def test_the_static_address_has_a_prefix_and_reaches_the_gateway():
    answers = {"OVEHOSTED_NETWORK/gateway": "192.0.2.1"}
    assert v.static_address("192.0.2.10/24", answers, STRICT) == "192.0.2.10/24"
    with pytest.raises(ValueError, match="^192.0.2.10 has no prefix length: give it as address/prefix"):
        v.static_address("192.0.2.10", answers, STRICT)
    with pytest.raises(ValueError, match="^the gateway 192.0.2.1 is not in 198.51.100.0/24"):
        v.static_address("198.51.100.7/24", answers, STRICT)


def test_root_password_and_ssh_key():
    assert v.root_password("s3cret-pw", {}, STRICT).startswith("$6$")
    given = "$6$abcdefgh$" + "x" * 86
    assert v.root_password(given, {}, STRICT) == given  # a hash is taken as it is
    with pytest.raises(ValueError, match="^the root password is too short"):
        v.root_password("abc", {}, STRICT)
    assert v.ssh_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA admin@laptop", {}, STRICT).startswith("ssh-ed25519")
    with pytest.raises(ValueError, match="is not an ssh public key"):
        v.ssh_key("hunter2", {}, STRICT)


def test_the_sender_is_one_address_as_the_shared_configuration_takes_it():
    """The sender question took a comma list that he.sourceEmail refuses: deploy failed only when it
    wrote the shared configuration, after creating the domain, and undid everything."""
    from vdsm_hosted_engine.storage import shared_keys

    with pytest.raises(ValueError, match="is not an e-mail address"):
        v.email("a@x.org, b@y.org", {}, STRICT)
    assert shared_keys.parse("he.sourceEmail", v.email(" he@example.com ", {}, STRICT)) == "he@example.com"
    both = v.emails("a@x.org, b@y", {}, STRICT)
    assert shared_keys.parse("he.destEmails", both) == ("a@x.org", "b@y")
