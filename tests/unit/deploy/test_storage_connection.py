"""Deploy's storage answers: the connection they name, where it mounts, the conf keys they become."""

import pytest

from vdsm_hosted_engine import config
from vdsm_hosted_engine.deploy import storage_connection
from vdsm_hosted_engine.deploy.questions import BY_KEY, validate

pytestmark = pytest.mark.unit

GLUSTER = {
    "OVEHOSTED_STORAGE/domainType": "glusterfs",
    "OVEHOSTED_STORAGE/storageDomainConnection": "g1:/engine",
    "OVEHOSTED_STORAGE/mntOptions": "backup-volfile-servers=g2:g3",
}


def test_gluster_answers_mount_under_the_root_and_become_conf_keys():
    assert storage_connection.domain_path(GLUSTER, "/m") == "/m/glusterSD/g1:_engine"
    values = storage_connection.conf_values(GLUSTER)
    assert values == {
        "storage": "g1:/engine",
        "domain_type": "glusterfs",
        "mnt_options": "backup-volfile-servers=g2:g3",
        "nfs_version": None,
        "vfs_type": None,
    }
    conf = config.HostConfig(host_id=2, vmid="11111111-2222-3333-4444-555555555555", mnt_root="/m", **values)
    again = config.parse_host_config(config.render_host_config(conf))
    assert again.connection == storage_connection.connection(GLUSTER) and again.domain_path == "/m/glusterSD/g1:_engine"


def test_a_path_answer_alone_means_dir_as_before():
    answers = {"OVEHOSTED_STORAGE/path": "/srv/he"}
    assert not storage_connection.is_remote(answers)
    assert storage_connection.domain_path(answers) == "/srv/he"
    assert not BY_KEY["OVEHOSTED_STORAGE/domainType"].applies(answers)
    assert storage_connection.prepare(answers, 10) == []


@pytest.mark.parametrize(
    "key, value, answers, reason",
    [
        (
            "OVEHOSTED_STORAGE/storageDomainConnection",
            "/srv/he",
            {"OVEHOSTED_STORAGE/domainType": "nfs"},
            "storage must be server:/path with domainType=nfs",
        ),
        (
            "OVEHOSTED_STORAGE/storageDomainConnection",
            "g1:/",
            {"OVEHOSTED_STORAGE/domainType": "glusterfs"},
            "storage must name the volume",
        ),
        ("OVEHOSTED_STORAGE/mntOptions", "a b", GLUSTER, "'a b' is not a mount option"),
        ("OVEHOSTED_STORAGE/domainType", "cifs", {}, "is not one of dir, nfs, glusterfs, posixfs"),
    ],
)
def test_bad_storage_answers_are_refused_with_the_reason(key, value, answers, reason):
    with pytest.raises(ValueError, match=reason):
        validate(BY_KEY[key], value, answers)


def test_an_unsafe_nfs_timing_is_refused_before_mounting():
    answers = {
        "OVEHOSTED_STORAGE/domainType": "nfs",
        "OVEHOSTED_STORAGE/storageDomainConnection": "nfs1:/he",
        "OVEHOSTED_STORAGE/mntOptions": "timeo=100",
    }
    assert storage_connection.prepare(answers, 10) == [
        "a soft NFS mount with timeo=100 retrans=3 fails a stuck I/O after 100 s, later than sanlock's renewal "
        "failure (80 s at io_timeout 10): set timeo=80 or lower in mnt_options"
    ]


def test_the_ending_tells_the_other_hosts_how_to_join_the_same_connection():
    """The deploy ending read OVEHOSTED_STORAGE/path, which a GlusterFS deploy has not: a KeyError
    after the Engine VM was up (found by the gluster e2e lab)."""
    from vdsm_hosted_engine.cli.deploy import _ending
    from vdsm_hosted_engine.deploy.steps import HostPaths

    gluster = {
        "OVEHOSTED_VM/fqdn": "engine.example.com",
        "OVEHOSTED_STORAGE/domainType": "glusterfs",
        "OVEHOSTED_STORAGE/storageDomainConnection": "h1:/engine",
        "OVEHOSTED_STORAGE/mntOptions": "backup-volfile-servers=h2:h3",
    }
    text = _ending(gluster, HostPaths(), start_ha=True)
    assert (
        "hosted-engine --deploy --join --storage=h1:/engine --storage-type=glusterfs "
        "--mnt-options=backup-volfile-servers=h2:h3"
    ) in text
    local = {"OVEHOSTED_VM/fqdn": "e", "OVEHOSTED_STORAGE/path": "/srv/he"}
    assert _ending(local, HostPaths(), start_ha=True).endswith("--join --storage=/srv/he")


def test_the_join_command_keeps_the_nfs_version_and_the_file_system_type():
    """The join command a deploy prints dropped nfsVersion and vfsType (a posixfs join could not work)."""
    from vdsm_hosted_engine.cli import deploy as deploy_cli
    from vdsm_hosted_engine.cli.hosted_engine import _parser

    nfs = {
        "OVEHOSTED_STORAGE/domainType": "nfs",
        "OVEHOSTED_STORAGE/storageDomainConnection": "nas:/engine",
        "OVEHOSTED_STORAGE/nfsVersion": "4.2",
    }
    words = storage_connection.join_arguments(nfs)
    assert words == "--storage=nas:/engine --storage-type=nfs --nfs-version=4.2"
    args = _parser().parse_args(["--deploy", "--join", *words.split()])
    assert (args.storage, args.storage_type, args.nfs_version) == ("nas:/engine", "nfs", "4.2")
    joined = deploy_cli.StorageConnection.parse(args.storage_type, args.storage, "", args.nfs_version)
    assert joined.nfs_version == "4.2"
