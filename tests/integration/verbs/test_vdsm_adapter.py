"""The adapter's forwarding to a real RPC server on a Unix socket, as vdsmd would relay a verb to
the daemon: values come back in VDSM's envelope, refusals with our code and the plain message."""

import pytest

from tests.unit.verbs.fake_backend import FakeBackend
from vdsm_hosted_engine.rpc.server import Server
from vdsm_hosted_engine.verbs import vdsm_adapter
from vdsm_hosted_engine.verbs.api import HostedEngine, methods
from vdsm_hosted_engine.verbs.schema import Schema


@pytest.fixture
def tmp_daemon_socket(tmp_path):
    """Our RPC server with the real verbs over a FakeBackend on a Unix socket, stopped after the test."""
    backend = FakeBackend()
    schema = Schema.load()
    server = Server(methods(HostedEngine(backend, schema), schema))
    path = str(tmp_path / "hosted-engine.sock")
    server.listen_unix(path)
    server.start()
    try:
        yield backend, path
    finally:
        server.stop()


def test_values_and_refusals_cross_the_socket_unchanged(tmp_daemon_socket):
    backend, path = tmp_daemon_socket
    adapter = vdsm_adapter.HostedEngine(vdsm_adapter.daemon_call(path))
    assert adapter.checkLiveliness() == {"status": {"code": 0, "message": "Done"}, "result": {"up": True, "host": 2}}
    assert adapter.startVM() == {
        "status": {
            "code": 9002,
            "message": "HA manages the Engine VM: set global maintenance before starting or stopping it",
        }
    }
    assert adapter.setMaintenance("partial")["status"]["code"] == -32602
    assert adapter.setMaintenance("global") == {"status": {"code": 0, "message": "Done"}, "result": True}
    assert backend.global_maintenance
