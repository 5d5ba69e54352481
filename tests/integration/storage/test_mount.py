"""Real mounts through `storage/mount.py`, in a private mount namespace (`unshare -m`) so nothing
leaks onto the machine even when a test fails: the namespace dies with its process. A tmpfs stands
in for the remote file system (posixfs, vfs_type=tmpfs): the logic under test is the same."""

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

SCRIPT = r"""
import json, subprocess, sys
from vdsm_hosted_engine.errors import StorageUnavailable
from vdsm_hosted_engine.storage import mount
from vdsm_hosted_engine.storage.connection import StorageConnection

root = sys.argv[1]
conn = StorageConnection.parse("posixfs", "hetmpfs", "size=8m", vfs_type="tmpfs")
other = StorageConnection.parse("posixfs", "hetmpfs", vfs_type="ramfs")
out = {"before": mount.check(conn, root), "first": mount.connect(conn, root)}
out["after"] = mount.check(conn, root)
out["again"] = mount.connect(conn, root)
try:
    mount.connect(other, root)
except StorageUnavailable as e:
    out["other"] = str(e)
busy = open(conn.mount_point(root) + "/held", "w")
try:
    mount.disconnect(conn, root)
except StorageUnavailable as e:
    out["busy"] = str(e).split(":")[0]
busy.close()
out["disconnect"] = mount.disconnect(conn, root)
out["gone"] = mount.check(conn, root)
out["disconnect_again"] = mount.disconnect(conn, root)
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_connect_check_and_disconnect_a_real_mount(tmp_path):
    root = str(tmp_path / "mnt")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", SCRIPT, root],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    where = f"{root}/hetmpfs"
    assert out == {
        "before": f"nothing is mounted at {where}",
        "first": True,
        "after": None,
        "again": False,
        "other": f"{where} is a tmpfs mount of hetmpfs, not posixfs hetmpfs",
        "busy": f"unmounting {where} failed",
        "disconnect": True,
        "gone": f"nothing is mounted at {where}",
        "disconnect_again": False,
    }
