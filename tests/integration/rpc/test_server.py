"""The RPC server on real sockets, driven by a client that behaves like vdsm-client."""

import socket
import ssl
import subprocess
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.rpc.client import Client, ClientError
from vdsm_hosted_engine.rpc.server import Server, tls_context


def slow(params):
    time.sleep(float(params.get("seconds", "1")))
    return {"slept": params.get("seconds")}


METHODS = {
    "Test.echo": lambda p: p,
    "Test.slow": slow,
    "Test.refuse": lambda p: (_ for _ in ()).throw(InvalidRequest("bad host id")),
}


@pytest.fixture
def tmp_server(tmp_path):
    """A server on a Unix socket and plain TCP on 127.0.0.1, stopped after the test."""
    server = Server(dict(METHODS))
    server.listen_unix(str(tmp_path / "he.sock"))
    server.port = server.listen_tcp("127.0.0.1", 0, allow_plain=True)
    server.socket_path = str(tmp_path / "he.sock")
    server.start()
    yield server
    server.stop()


def test_call_over_unix_socket_and_tcp(tmp_server):
    for client in (Client.unix(tmp_server.socket_path), Client.tcp("127.0.0.1", tmp_server.port)):
        try:
            assert client.call("Test.echo", {"hostId": "2"}) == {"hostId": "2"}
            with pytest.raises(ClientError, match=r"\(code=9002, message=bad host id\)"):
                client.call("Test.refuse")
            with pytest.raises(ClientError, match="code=-32601"):
                client.call("Test.nope")
        finally:
            client.close()


def test_unix_socket_is_root_only(tmp_server):
    import os
    import stat

    assert stat.S_IMODE(os.stat(tmp_server.socket_path).st_mode) == 0o600


def test_a_call_longer_than_the_window_succeeds_because_the_server_heartbeats(tmp_server):
    client = Client.unix(tmp_server.socket_path, window=1.5)
    try:
        assert client.call("Test.slow", {"seconds": "4"}) == {"slept": "4"}
    finally:
        client.close()


def test_a_slow_verb_does_not_block_other_clients(tmp_server):
    """The slow verb waits until the fast call has been answered: if one call blocked the other, this
    would deadlock (and fail on the client's window) instead of passing."""
    released = threading.Event()
    tmp_server.methods["Test.blocked"] = lambda params: {"released": released.wait(20)}
    slow_client = Client.unix(tmp_server.socket_path)
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=slow_client.call("Test.blocked")))
    thread.start()
    fast = Client.unix(tmp_server.socket_path)
    assert fast.call("Test.echo", {"x": "1"}) == {"x": "1"}
    assert thread.is_alive()  # the blocked verb is still running
    released.set()
    thread.join(10)
    slow_client.close()
    fast.close()
    assert result["r"] == {"released": True}


def test_events_reach_subscribers(tmp_server):
    client = Client.unix(tmp_server.socket_path)
    try:
        client.subscribe_events()
        client.call("Test.echo")  # the SUBSCRIBE is processed before this call's answer
        assert tmp_server.notify("|hosted-engine|state", {"hostId": 1, "state": "EngineUp"}) == 1
        client.call("Test.echo")
        assert client.events == [
            {"jsonrpc": "2.0", "method": "|hosted-engine|state", "params": {"hostId": 1, "state": "EngineUp"}}
        ]
    finally:
        client.close()


def test_a_follower_waits_for_the_next_event_past_the_call_deadline(tmp_server):
    """`hosted-engine --events --follow` died with "no answer within 300 s": `next_event` kept the
    deadline of the last call. Waiting for an event has no deadline; heart-beats keep it alive."""
    import threading

    client = Client.unix(tmp_server.socket_path, window=1.0, deadline=1.0)
    late = threading.Timer(2.5, tmp_server.notify, ("|hosted-engine|event|1", {"number": 1}))
    try:
        client.subscribe_events()
        client.call("Test.echo")
        late.start()
        assert client.next_event()["params"] == {"number": 1}
    finally:
        late.cancel()
        client.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"BOGUS\n\n\0",
        b"SEND\ncontent-length:zz\n\n\0",
        b"\xff" * 100,
        b"SEND\ndestination:jms.topic.vdsm_requests\nreply-to:r\n\n{not json\0",
    ],
)
def test_malformed_input_is_answered_and_the_server_stays_up(tmp_server, garbage):
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(tmp_server.socket_path)
    raw.sendall(b"CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\ndestination:r\nid:1\n\n\0" + garbage)
    raw.settimeout(5)
    received = b""
    try:
        while b"ERROR" not in received and b"-32700" not in received:
            chunk = raw.recv(4096)
            if not chunk:
                break
            received += chunk
    finally:
        raw.close()
    assert b"ERROR" in received or b"-32700" in received
    client = Client.unix(tmp_server.socket_path)
    assert client.call("Test.echo", {"still": "up"}) == {"still": "up"}
    client.close()


def test_plain_tcp_only_on_loopback_and_only_when_asked():
    server = Server(METHODS)
    with pytest.raises(InvalidRequest, match="explicitly"):
        server.listen_tcp("127.0.0.1", 0)
    with pytest.raises(InvalidRequest, match="loopback address only"):
        server.listen_tcp("0.0.0.0", 0, allow_plain=True)
    server.stop()


@pytest.fixture(scope="module")
def tmp_pki(tmp_path_factory):
    """VDSM's PKI layout with a test CA, the host's certificate and a client certificate; plus a
    client certificate from another CA."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    for ca in ("ca", "rogue"):
        run(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.pem",
            "-days",
            "2",
            "-subj",
            f"/CN={ca}",
        )
    for name, ca in (("vdsm", "ca"), ("client", "ca"), ("intruder", "rogue")):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            "/CN=localhost",
        )
        (d / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            f"{ca}.pem",
            "-CAkey",
            f"{ca}.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )
    return d


def client_tls(pki, name):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(pki / "ca.pem"))
    if name:
        context.load_cert_chain(str(pki / f"{name}.pem"), str(pki / f"{name}.key"))
    return context


def test_tls_requires_a_client_certificate_from_our_ca(tmp_pki):
    server = Server(METHODS)
    port = server.listen_tcp(
        "127.0.0.1", 0, tls=tls_context(str(tmp_pki / "vdsm.pem"), str(tmp_pki / "vdsm.key"), str(tmp_pki / "ca.pem"))
    )
    server.start()
    try:
        client = Client.tcp("127.0.0.1", port, tls=client_tls(tmp_pki, "client"), window=5)
        assert client.call("Test.echo", {"tls": "yes"}) == {"tls": "yes"}
        client.close()
        for name in (None, "intruder"):
            with pytest.raises((ssl.SSLError, ClientError, OSError)):
                refused = Client.tcp("127.0.0.1", port, tls=client_tls(tmp_pki, name), window=5)
                refused.call("Test.echo")
    finally:
        server.stop()


def test_tls_certificates_outside_the_allowed_subjects_may_only_read(tmp_pki, tmp_path):
    """Build item 3: state-changing verbs over TLS only for the configured certificate subjects; the
    Unix socket (root's only) is not narrowed."""
    from vdsm_hosted_engine.rpc.server import Policy

    context = tls_context(str(tmp_pki / "vdsm.pem"), str(tmp_pki / "vdsm.key"), str(tmp_pki / "ca.pem"))
    for allowed, slow_allowed in ((frozenset({"engine.lab"}), False), (frozenset({"localhost"}), True)):
        server = Server(METHODS, policy=Policy(allowed, frozenset({"Test.echo"})))
        port = server.listen_tcp("127.0.0.1", 0, tls=context)
        server.listen_unix(str(tmp_path / "he.sock"))
        server.start()
        try:
            client = Client.tcp("127.0.0.1", port, tls=client_tls(tmp_pki, "client"), window=5)  # CN=localhost
            assert client.call("Test.echo", {"read": "ok"}) == {"read": "ok"}
            if slow_allowed:
                assert client.call("Test.slow", {"seconds": "0"}) == {"slept": "0"}
            else:
                with pytest.raises(ClientError, match="code=9005, message=Test.slow is not allowed"):
                    client.call("Test.slow", {"seconds": "0"})
            client.close()
            local = Client.unix(str(tmp_path / "he.sock"), window=5)
            assert local.call("Test.slow", {"seconds": "0"}) == {"slept": "0"}
            local.close()
        finally:
            server.stop()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from(
                [
                    b"SEND\ndestination:jms.topic.vdsm_requests\nreply-to:r\n\n",
                    b"\0",
                    b"\n",
                    b'[{"jsonrpc": "2.0"',
                    b"content-length:99999999\n",
                    b"CONNECT\nheart-beat:x\n\n\0",
                    b"SUBSCRIBE\n\n\0",
                ]
            ),
        ),
        max_size=8,
    )
)
def test_fuzzed_streams_never_take_the_server_down(tmp_server, chunks):
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(tmp_server.socket_path)
    raw.settimeout(2)
    try:
        for chunk in chunks:
            raw.sendall(chunk)
    except OSError:
        pass  # the server may close a connection that sent garbage
    finally:
        raw.close()
    client = Client.unix(tmp_server.socket_path, window=5)
    assert client.call("Test.echo", {"ok": "1"}) == {"ok": "1"}
    client.close()
