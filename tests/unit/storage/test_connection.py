"""The storage connection: parsing, VDSM's mount points, mount commands, NFS timing, mountinfo checks."""

import pytest

from vdsm_hosted_engine import config
from vdsm_hosted_engine.errors import ConfigError
from vdsm_hosted_engine.storage.connection import (
    MountEntry,
    StorageConnection,
    mount_problem,
    nfs_soft_failure_seconds,
    nfs_timeo,
    parse_mountinfo,
    transform_path,
)

pytestmark = pytest.mark.unit

ROOT = "/rhev/data-center/mnt"


def gluster(spec="g1:/engine", options="backup-volfile-servers=g2:g3"):
    return StorageConnection.parse("glusterfs", spec, options)


@pytest.mark.parametrize(
    "remote, name",
    [
        ("nfs1:/exports/he", "nfs1:_exports_he"),
        ("nfs1:/exports/he_engine", "nfs1:_exports_he__engine"),
        ("g1:/engine", "g1:_engine"),
    ],
)
def test_transform_path_is_vdsms(remote, name):
    assert transform_path(remote) == name


@pytest.mark.parametrize(
    "domain_type, spec, mount_point",
    [
        ("nfs", "nfs1:/exports//he/", f"{ROOT}/nfs1:_exports_he"),
        ("glusterfs", "g1:/engine", f"{ROOT}/glusterSD/g1:_engine"),
        ("nfs", "[fd00::1]:/he", f"{ROOT}/[fd00::1]:_he"),
        ("dir", "/srv/he//domain/", "/srv/he/domain"),
    ],
)
def test_mount_point_is_derived_as_vdsm_does(domain_type, spec, mount_point):
    conn = StorageConnection.parse(domain_type, spec)
    assert conn.mount_point(ROOT) == mount_point == conn.domain_path(ROOT)


def test_mount_root_is_configurable():
    assert gluster().mount_point("/var/tmp/lab/mnt/") == "/var/tmp/lab/mnt/glusterSD/g1:_engine"


@pytest.mark.parametrize(
    "domain_type, spec, options, vfs_type, reason",
    [
        ("nfs", "/srv/he", "", None, "storage must be server:/path with domainType=nfs (not server:/path)"),
        ("nfs", "nfs1:/a/../b", "", None, "storage must be server:/path with domainType=nfs (the path must not hold"),
        ("glusterfs", "g1:/", "", None, "storage must name the volume, host:/volume, with domainType=glusterfs"),
        ("glusterfs", "g1:/engine", "backup-volfile-servers=g2;g3", None, "mnt_options: backup-volfile-servers must"),
        ("glusterfs", "g1:/engine", "a b", None, "mnt_options: 'a b' is not a mount option"),
        ("nfs", "n:/he", "timeo=soon", None, "mnt_options: timeo=soon is not an integer"),
        ("dir", "relative", "", None, "storage must be an absolute path with domainType=dir"),
        ("dir", "/srv/he", "ro", None, "mnt_options has no meaning with domainType=dir"),
        ("posixfs", "/dev/sdb1", "", None, "domainType=posixfs needs vfs_type"),
        ("cifs", "x:/y", "", None, "domainType must be one of dir, nfs, glusterfs, posixfs"),
    ],
)
def test_bad_connections_are_refused_with_one_sentence(domain_type, spec, options, vfs_type, reason):
    with pytest.raises(ValueError) as e:
        StorageConnection.parse(domain_type, spec, options, vfs_type=vfs_type)
    assert str(e.value).startswith(reason)


def test_gluster_mount_command_passes_the_backup_servers():
    assert gluster().mount_command(ROOT) == [
        "mount",
        "-t",
        "glusterfs",
        "-o",
        "backup-volfile-servers=g2:g3",
        "g1:/engine",
        f"{ROOT}/glusterSD/g1:_engine",
    ]


def test_posixfs_mounts_its_vfs_type():
    conn = StorageConnection.parse("posixfs", "ceph1:/he", "name=admin", vfs_type="ceph")
    assert conn.mount_command(ROOT) == ["mount", "-t", "ceph", "-o", "name=admin", "ceph1:/he", f"{ROOT}/ceph1:_he"]


def test_dir_is_never_mounted():
    conn = StorageConnection.parse("dir", "/srv/he")
    assert not conn.mounted
    with pytest.raises(ValueError):
        conn.mount_command(ROOT)


@pytest.mark.parametrize(
    "version, options, io_timeout, expected",
    [
        ("auto", "", 10, ("soft", "nosharecache", "timeo=80", "retrans=3")),
        ("4.2", "", 10, ("soft", "nosharecache", "timeo=80", "retrans=3", "vers=4.2")),
        ("3", "", 1, ("soft", "nosharecache", "timeo=8", "retrans=3", "vers=3")),
        # the admin's options win; hard replaces soft
        ("auto", "hard,timeo=600", 10, ("nosharecache", "retrans=3", "hard", "timeo=600")),
    ],
)
def test_nfs_options_follow_sanlocks_io_timeout(version, options, io_timeout, expected):
    conn = StorageConnection.parse("nfs", "nfs1:/he", options, nfs_version=version)
    assert conn.mount_options(io_timeout) == expected


@pytest.mark.parametrize("io_timeout", [1, 5, 10, 20, 60])
def test_the_products_soft_nfs_fails_no_later_than_sanlocks_renewal_failure(io_timeout):
    conn = StorageConnection.parse("nfs", "nfs1:/he")
    assert nfs_soft_failure_seconds(nfs_timeo(io_timeout), 3) <= 8 * io_timeout
    assert conn.nfs_timing_problem(io_timeout) is None


def test_vdsms_nfs_defaults_fail_after_sanlock_and_are_refused():
    """VDSM's timeo=100 retrans=3 fails a stuck I/O after 10+20+30+40 = 100 s; sanlock gives up at 80 s."""
    conn = StorageConnection.parse("nfs", "nfs1:/he", "timeo=100,retrans=3")
    assert conn.nfs_timing_problem(10) == (
        "a soft NFS mount with timeo=100 retrans=3 fails a stuck I/O after 100 s, later than sanlock's renewal "
        "failure (80 s at io_timeout 10): set timeo=80 or lower in mnt_options"
    )
    assert StorageConnection.parse("nfs", "nfs1:/he", "hard,timeo=600").nfs_timing_problem(10) is None


MOUNTINFO = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "90 22 0:50 / /rhev/data-center/mnt/glusterSD/g1:_engine rw,relatime shared:60 - fuse.glusterfs g2:/engine "
    "rw,user_id=0,group_id=0\n"
    "91 22 0:51 / /rhev/data-center/mnt/nfs1:_he rw shared:61 - nfs4 nfs1:/he rw,vers=4.2\n"
    "92 22 0:52 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
    "garbage line\n"
)


def test_parse_mountinfo_reads_type_source_and_escaped_paths():
    entries = parse_mountinfo(MOUNTINFO)
    assert entries[1] == MountEntry(f"{ROOT}/glusterSD/g1:_engine", "fuse.glusterfs", "g2:/engine", "rw,relatime")
    assert entries[3].mount_point == "/mnt/with space"
    assert len(entries) == 4


@pytest.mark.parametrize(
    "conn, problem",
    [
        (gluster(), None),  # mounted from a backup volfile server: still ours
        (StorageConnection.parse("nfs", "nfs1:/he"), None),
        (
            gluster(options=""),
            f"{ROOT}/glusterSD/g1:_engine mounts g2:/engine, not g1:/engine as hosted-engine.conf says",
        ),
        (gluster("g1:/other"), f"nothing is mounted at {ROOT}/glusterSD/g1:_other"),
        (StorageConnection.parse("dir", "/srv/he"), None),
    ],
)
def test_mount_problem_checks_what_is_mounted_is_what_the_conf_says(conn, problem):
    assert mount_problem(conn, parse_mountinfo(MOUNTINFO), ROOT) == problem


def test_a_different_file_system_at_the_mount_point_is_named():
    entries = [MountEntry(f"{ROOT}/nfs1:_he", "tmpfs", "tmpfs")]
    assert mount_problem(StorageConnection.parse("nfs", "nfs1:/he"), entries, ROOT) == (
        f"{ROOT}/nfs1:_he is a tmpfs mount of tmpfs, not nfs nfs1:/he"
    )


def test_the_last_mount_at_a_point_is_the_visible_one():
    entries = [
        MountEntry(f"{ROOT}/nfs1:_he", "nfs", "nfs1:/he"),
        MountEntry(f"{ROOT}/nfs1:_he", "tmpfs", "tmpfs"),
    ]
    assert mount_problem(StorageConnection.parse("nfs", "nfs1:/he"), entries, ROOT) is not None


# -- hosted-engine.conf ---------------------------------------------------------------------------

BASE = "host_id=1\nvmid=11111111-2222-3333-4444-555555555555\n"


def test_conf_with_a_gluster_connection():
    conf = config.parse_host_config(
        BASE + "storage=g1:/engine\ndomainType=glusterfs\nmnt_options=backup-volfile-servers=g2:g3\n"
        "mnt_root=/var/tmp/lab/mnt\n"
    )
    assert conf.connection == gluster()
    assert conf.domain_path == "/var/tmp/lab/mnt/glusterSD/g1:_engine"
    assert config.parse_host_config(config.render_host_config(conf)) == conf


def test_conf_default_dir_keeps_the_storage_path():
    conf = config.parse_host_config(BASE + "storage=/srv/he\n")
    assert conf.domain_path == "/srv/he" and not conf.connection.mounted


@pytest.mark.parametrize(
    "lines, problem",
    [
        ("storage=g1:/engine\n", "f: storage: 'g1:/engine': storage must be an absolute path with domainType=dir"),
        (
            "storage=/srv/he\ndomainType=nfs\n",
            "f: storage: '/srv/he': storage must be server:/path with domainType=nfs (not server:/path)",
        ),
        (
            "storage=n:/he\ndomainType=nfs\nnfs_version=5\n",
            "f:5: nfs_version: '5': must be one of auto, 3, 4, 4.0, 4.1, 4.2",
        ),
    ],
)
def test_conf_refuses_a_connection_that_does_not_fit_its_domain_type(lines, problem):
    with pytest.raises(ConfigError) as e:
        config.parse_host_config(BASE + lines, "f")
    assert [str(p) for p in e.value.problems] == [problem]
