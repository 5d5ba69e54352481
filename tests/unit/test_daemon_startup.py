"""Start-up problems the daemon reports in one sentence instead of a traceback (Low findings of issue 14)."""

import pytest

from vdsm_hosted_engine.daemon import load_tls, read_vm_conf
from vdsm_hosted_engine.errors import InvalidRequest


def test_a_missing_pki_is_one_sentence(tmp_path):
    with pytest.raises(InvalidRequest, match=rf"cannot load VDSM's PKI from pki_dir {tmp_path} for rpc_listen=tls"):
        load_tls(str(tmp_path))


def test_a_vm_conf_that_is_not_utf8_is_one_sentence(tmp_path):
    path = tmp_path / "vm.conf"
    path.write_bytes(b"vmId=7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e\nvmName=caf\xe9\n")
    with pytest.raises(InvalidRequest, match="is not UTF-8 text"):
        read_vm_conf(str(path))


def test_the_log_file_is_created_root_only(tmp_path):
    import os
    import stat
    import subprocess
    import sys

    conf = tmp_path / "hosted-engine.conf"
    conf.write_text("host_id=1\nstorage=/srv/he\nvmid=7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e\n")
    log = tmp_path / "daemon.log"
    command = [sys.executable, "-m", "vdsm_hosted_engine.daemon", "--config", str(conf), "--validate-config"]
    subprocess.run(
        [*command, "--log-file", str(log)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_the_read_only_verbs_exist_and_change_nothing():
    from vdsm_hosted_engine.daemon import READ_ONLY_VERBS
    from vdsm_hosted_engine.verbs.api import HostedEngine

    verbs = [name.removeprefix("HostedEngine.") for name in READ_ONLY_VERBS]
    assert all(callable(getattr(HostedEngine, verb, None)) for verb in verbs)
    assert all(verb.startswith(("get", "check")) for verb in verbs)
