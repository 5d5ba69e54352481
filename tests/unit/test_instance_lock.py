"""One daemon per run directory."""

import os

import pytest

from vdsm_hosted_engine import instance_lock
from vdsm_hosted_engine.errors import InvalidRequest


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_the_lock_goes_with_the_first(tmp_path):
    run_dir = str(tmp_path / "run")
    first = instance_lock.acquire(run_dir)
    (tmp_path / "run" / "hosted-engine.sock").write_text("")  # the first one's socket
    with pytest.raises(InvalidRequest, match=rf"another vdsm-hosted-engine \(pid {os.getpid()}\) runs with run_dir"):
        instance_lock.acquire(run_dir)
    assert (tmp_path / "run" / "hosted-engine.sock").exists()
    os.close(first)
    os.close(instance_lock.acquire(run_dir))
