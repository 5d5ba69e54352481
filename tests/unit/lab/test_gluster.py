"""The gluster lab's pure parts: its connection, its timing, how its processes are told apart."""

import pytest

from vdsm_hosted_engine.lab import gluster
from vdsm_hosted_engine.storage import gluster as rule

pytestmark = pytest.mark.unit


def test_the_labs_timing_follows_the_products_rule():
    assert (gluster.IO_TIMEOUT, gluster.PING_TIMEOUT) == (5, 10)
    assert rule.timing_problem(gluster.PING_TIMEOUT, gluster.IO_TIMEOUT) is None


def test_the_connection_names_the_other_brick_hosts_as_backup_volfile_servers():
    conn = gluster.connection(["host1", "host2", "host3"])
    assert (conn.spec, conn.mnt_options) == ("host1:/he", ("backup-volfile-servers=host2:host3",))


@pytest.mark.parametrize(
    "argv, kind",
    [
        (["/usr/sbin/glusterd", "-N", "--log-level", "INFO"], "glusterd"),
        (["/usr/sbin/glusterfsd", "-s", "host1", "--volfile-id", "he.host1.var-tmp-brick-he"], "brick"),
        (
            ["/usr/sbin/glusterfs", "-s", "localhost", "--volfile-id", "shd/he", "-p", "/run/gluster/shd/he.pid"],
            "self-heal",
        ),
        (
            ["/usr/sbin/glusterfs", "--process-name", "fuse", "--volfile-server=host1", "--volfile-id=/he", "/m"],
            "client",
        ),
        (["/usr/bin/python3", "-m", "vdsm_hosted_engine.daemon"], None),
    ],
)
def test_gluster_processes_are_told_apart_by_their_command_line(argv, kind):
    assert gluster._kind(argv) == kind
