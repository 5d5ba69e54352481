"""The Engine VM's NoCloud seed: the generated meta-data, user-data and network-config, and the ISO."""

import subprocess

import yaml

from vdsm_hosted_engine.deploy import cloud_init
from vdsm_hosted_engine.deploy.cloud_init import Seed, StaticNetwork
from vdsm_hosted_engine.virt import domxml

MAC = "00:16:3e:12:34:56"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv admin@laptop"


def test_meta_data_names_the_instance_and_the_host():
    seed = Seed("6f1c0e8e-0000-4000-8000-000000000001", "engine.example.com", MAC)
    assert yaml.safe_load(cloud_init.meta_data(seed)) == {
        "instance-id": "6f1c0e8e-0000-4000-8000-000000000001",
        "local-hostname": "engine",
    }


def test_network_config_v2_dhcp_matches_the_nic_by_its_mac():
    config = yaml.safe_load(cloud_init.network_config(Seed("i", "engine.example.com", MAC)))
    assert config == {
        "version": 2,
        "ethernets": {"eth0": {"match": {"macaddress": MAC}, "set-name": "eth0", "dhcp4": True}},
    }


def test_network_config_v2_static_with_route_and_dns():
    network = StaticNetwork("192.0.2.10/24", "192.0.2.1", ("192.0.2.53", "198.51.100.53"), ("example.com",))
    config = yaml.safe_load(cloud_init.network_config(Seed("i", "engine.example.com", MAC, network)))
    assert config["ethernets"]["eth0"] == {
        "match": {"macaddress": MAC},
        "set-name": "eth0",
        "dhcp4": False,
        "addresses": ["192.0.2.10/24"],
        "routes": [{"to": "default", "via": "192.0.2.1"}],
        "nameservers": {"addresses": ["192.0.2.53", "198.51.100.53"], "search": ["example.com"]},
    }


def test_user_data_sets_names_root_access_and_the_setup_script():
    hashed = cloud_init.hash_password("s3cret-pw")
    seed = Seed("i", "engine.example.com", MAC, None, hashed, KEY, "#!/bin/sh\nengine-setup --offline\n")
    text = cloud_init.user_data(seed)
    assert text.startswith("#cloud-config\n") and "s3cret-pw" not in text
    config = yaml.safe_load(text)
    assert (config["hostname"], config["fqdn"], config["manage_etc_hosts"]) == ("engine", "engine.example.com", True)
    assert config["users"] == [
        {"name": "root", "hashed_passwd": hashed, "lock_passwd": False, "ssh_authorized_keys": [KEY]}
    ]
    assert config["disable_root"] is False and config["ssh_pwauth"] is True
    assert config["write_files"][0]["content"] == "#!/bin/sh\nengine-setup --offline\n"
    assert config["runcmd"] == [["/root/engine-setup.sh"]]


def test_user_data_without_credentials_leaves_root_alone():
    config = yaml.safe_load(cloud_init.user_data(Seed("i", "192.0.2.10", MAC)))
    assert "users" not in config and "runcmd" not in config


def test_the_password_hash_is_sha512_crypt_and_salted():
    first, second = cloud_init.hash_password("s3cret-pw"), cloud_init.hash_password("s3cret-pw")
    assert first.startswith("$6$") and second.startswith("$6$") and first != second


def test_the_seed_iso_is_labelled_cidata_and_holds_the_three_files(tmp_path):
    seed = Seed("i-1", "engine.example.com", MAC, StaticNetwork("192.0.2.10/24", "192.0.2.1"))
    iso = tmp_path / "seed.iso"
    cloud_init.build_seed(seed, str(iso))
    info = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True, check=True).stdout
    assert "Volume id: cidata" in info
    for name, text in (
        ("meta-data", cloud_init.meta_data(seed)),
        ("user-data", cloud_init.user_data(seed)),
        ("network-config", cloud_init.network_config(seed)),
    ):
        read = subprocess.run(
            ["isoinfo", "-R", "-i", str(iso), "-x", f"/{name}"], capture_output=True, text=True, check=True
        )
        assert read.stdout == text


def test_the_seed_is_the_vms_read_only_cdrom():
    vm = domxml.VmConfig(vm_uuid="6f1c0e8e-0000-4000-8000-000000000001", cdrom="/sd/images/x/cloud-init-seed.iso")
    xml = domxml.build(vm)
    assert (
        '<disk type="file" device="cdrom"><driver name="qemu" type="raw"/>'
        '<source file="/sd/images/x/cloud-init-seed.iso"/><target dev="hdc" bus="ide"/><readonly/></disk>'
    ) in xml
    assert domxml.VmConfig.from_mapping({"vmId": vm.vm_uuid, "cdrom": vm.cdrom}).cdrom == vm.cdrom
