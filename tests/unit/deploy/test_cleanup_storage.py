"""`hosted-engine --cleanup` on a host whose domain is on a storage connection (GlusterFS, NFS): the
domain is looked for where the connection is mounted, and the mount is undone after. Mounting is
stood in for (this is the choice of paths, a pure matter): the real mount is the gluster e2e's."""

import pytest

from vdsm_hosted_engine import config
from vdsm_hosted_engine.deploy import cleanup

VM_ID = "5c0a6f3e-9a53-4f0c-8a53-0a8c0c2ff1a1"


@pytest.mark.unit
def test_a_connection_is_mounted_looked_in_at_its_mount_point_and_unmounted(tmp_path, monkeypatch):
    """`--cleanup` looked for the domain at `storage=` itself (`g1:/engine`), found nothing and
    reported success with the host id still in the lockspace and the mount left."""
    conf = config.parse_host_config(
        f"host_id=2\nstorage=g1:/engine\ndomainType=glusterfs\nvmid={VM_ID}\nmnt_root={tmp_path}/mnt\n"
        f"run_dir={tmp_path}/run\n"
    )
    calls = []
    monkeypatch.setattr(cleanup.mount, "connect", lambda conn, root: calls.append(("connect", conn.spec, root)))
    monkeypatch.setattr(cleanup.mount, "disconnect", lambda conn, root: calls.append(("disconnect", conn.spec, root)))
    monkeypatch.setattr(cleanup.StorageDomain, "exists_at", lambda path: calls.append(("exists_at", path)) and False)
    result = cleanup.Cleanup()
    cleanup._clean_storage(conf, False, result)
    root = f"{tmp_path}/mnt"
    assert calls == [
        ("connect", "g1:/engine", root),
        ("exists_at", conf.domain_path),
        ("disconnect", "g1:/engine", root),
    ]
    assert conf.domain_path.startswith(root + "/glusterSD/")
    assert result.removed == [f"the mount of g1:/engine at {conf.connection.mount_point(root)}"]
