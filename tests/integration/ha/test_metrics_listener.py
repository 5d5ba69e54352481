"""The metrics listener: plain HTTP on loopback; TLS with the host's VDSM certificate on any other
address (a test PKI made here); port 0 means none. Each listener is closed by the test."""

import ssl
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from tests import pki as test_pki
from tests.integration.cli.test_daemon_cli import free_port
from vdsm_hosted_engine.ha import metrics


@pytest.fixture
def tmp_host_pki(tmp_path):
    """`<pki_dir>/certs/vdsmcert.pem` and `keys/vdsmkey.pem` for 127.0.0.1, signed by `ca.pem`."""
    (tmp_path / "certs").mkdir()
    (tmp_path / "keys").mkdir()

    test_pki.make_ca(tmp_path)
    test_pki.issue(tmp_path, "keys/vdsmkey.pem", "certs/vdsmcert.pem")
    return tmp_path


@pytest.fixture
def tmp_listener():
    """Factory: tmp_listener(address, port, pki_dir) -> metrics.serve(...); closed afterwards."""
    servers = []

    def start(address, port, pki_dir):
        registry = CollectorRegistry()
        Counter("hosted_engine_probe", "a series to find", registry=registry).inc()
        server = metrics.serve(registry, address, port, str(pki_dir))
        if server is not None:
            servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_loopback_is_plain_http(tmp_listener, tmp_path):
    port = free_port()
    assert tmp_listener("127.0.0.1", port, tmp_path) is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert "hosted_engine_probe_total 1.0" in response.read().decode()


def test_any_other_address_is_tls_with_the_host_certificate(tmp_listener, tmp_host_pki):
    port = free_port()
    assert tmp_listener("0.0.0.0", port, tmp_host_pki) is not None
    context = ssl.create_default_context(cafile=str(tmp_host_pki / "ca.pem"))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", timeout=10, context=context) as response:
        assert "hosted_engine_probe_total 1.0" in response.read().decode()
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()


def test_no_listener_on_port_0_and_a_missing_certificate_is_logged_not_raised(tmp_listener, tmp_path, caplog):
    assert tmp_listener("127.0.0.1", 0, tmp_path) is None
    assert tmp_listener("0.0.0.0", free_port(), tmp_path / "no-pki") is None
    assert "no metrics listener on 0.0.0.0 port" in caplog.text
