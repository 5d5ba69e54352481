"""The systemd unit: enough descriptors, a private umask, and no hardening that would cut the daemon
off from sanlock, libvirt, the storage domain or the management network."""

import configparser
import pathlib

UNIT = pathlib.Path(__file__).parents[2] / "spec" / "vdsm-hosted-engine.service"


def service() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return dict(parser["Service"])


def test_descriptors_and_umask():
    """Finding 2: the unit set no LimitNOFILE (1,024); the log file was 0644."""
    unit = service()
    assert int(unit["LimitNOFILE"]) >= 65536
    assert unit["UMask"] == "0077"


def test_hardening_keeps_sanlock_libvirt_storage_and_network_reachable():
    unit = service()
    assert unit["NoNewPrivileges"] == "yes" and unit["ProtectSystem"] == "full"
    for breaks in ("PrivateDevices", "PrivateNetwork", "PrivateUsers", "IPAddressDeny", "DynamicUser", "User"):
        assert breaks not in unit, f"{breaks} would cut the daemon off from sanlock, libvirt or the storage"
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(unit["RestrictAddressFamilies"].split())
    assert "/run/vdsm-hosted-engine" in unit["ReadWritePaths"].split()
