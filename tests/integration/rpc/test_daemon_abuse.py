"""Fuzz and load on a running daemon's Unix socket, class by class (vdsm_hosted_engine/lab/rpc_abuse.py):
after each, the daemon answers a normal getStatus within 1 s and the agent's slot timestamp on the
storage keeps advancing. Bounded: a few hundred connections per class, a seeded random stream."""

import random

import pytest

from tests.integration.cli.test_daemon_cli import tmp_daemon  # noqa: F401 (a fixture)
from tests.integration.conftest import wait_for
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.lab import rpc_abuse
from vdsm_hosted_engine.rpc.client import Client

METHOD = "HostedEngine.getStatus"


def get_status(path: str, deadline: float = 1.0):
    client = Client.unix(path, window=deadline, deadline=deadline)
    try:
        return client.call(METHOD)
    finally:
        client.close()


def answers(path: str) -> bool:
    try:
        return bool(get_status(path, deadline=5))
    except (HostedEngineError, OSError):
        return False


def slot_timestamp(domain) -> int | None:
    slot = domain.whiteboard().read().hosts.get(1)
    return None if slot is None else slot.timestamp


@pytest.mark.parametrize("name", sorted(rpc_abuse.CLASSES))
def test_the_daemon_survives_each_class(tmp_daemon, tmp_domain, name):  # noqa: F811
    _process, _conf, tmp_path = tmp_daemon
    path = str(tmp_path / "run" / "hosted-engine.sock")
    wait_for(lambda: answers(path), timeout=60, interval=0.5, what="the daemon answering getStatus")
    wait_for(lambda: slot_timestamp(tmp_domain) is not None, timeout=30, what="host 1's slot")
    before = slot_timestamp(tmp_domain)

    rpc_abuse.CLASSES[name](path, METHOD, random.Random(14))

    assert "global_maintenance" in get_status(path, deadline=1.0)  # a normal client, answered within 1 s
    wait_for(lambda: slot_timestamp(tmp_domain) > before, timeout=30, what="the agent's slot timestamp advancing")
