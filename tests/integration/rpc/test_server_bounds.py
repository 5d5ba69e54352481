"""The RPC server's bounds on real sockets: what a slow, flooding, silent or greedy client gets, and
that nobody else (the HA agent's `notify` least of all) waits for it."""

import logging
import os
import select
import socket
import subprocess
import sys
import textwrap
import threading

import pytest

from tests.integration.conftest import wait_for
from vdsm_hosted_engine.rpc.client import Client, ClientError
from vdsm_hosted_engine.rpc.server import EVENT_QUEUE, REQUEST_QUEUE, Limits, Server, tls_context
from vdsm_hosted_engine.rpc.stomp import Frame

from .test_server import METHODS, tmp_pki  # noqa: F401 (a fixture)


@pytest.fixture
def make_server(tmp_path):
    """Servers on a Unix socket with the given limits, stopped after the test."""
    servers = []

    def make(**limits):
        server = Server(dict(METHODS), limits=Limits(**limits))
        server.socket_path = str(tmp_path / f"he{len(servers)}.sock")
        server.listen_unix(server.socket_path)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def raw_connection(path: str, *frames: Frame, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(path)
    for frame in frames:
        sock.sendall(frame.encode())
    return sock


def closed_by_server(sock: socket.socket, timeout: float = 20.0) -> bool:
    """Read (and drop) whatever comes until EOF; False when the connection is still open after `timeout`."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


CONNECT = Frame("CONNECT", {"accept-version": "1.2", "heart-beat": "0,1000"})
ECHO = Frame(
    "SEND", {"destination": REQUEST_QUEUE, "reply-to": "r"}, b'{"jsonrpc": "2.0", "method": "Test.echo", "id": 1}'
)


def test_a_subscriber_that_stops_reading_is_dropped_and_notify_never_waits(make_server, caplog):
    """Finding 1: the agent's `notify` used to block in sendall once a subscriber's socket was full."""
    server = make_server(send_high=64 * 1024, send_max=256 * 1024)
    stalled = raw_connection(
        server.socket_path,
        CONNECT,
        Frame("SUBSCRIBE", {"destination": EVENT_QUEUE, "id": "e"}),
        Frame("SUBSCRIBE", {"destination": "r", "id": "r"}),
        ECHO,
        rcvbuf=4096,
    )
    stalled.settimeout(10)
    received = b""
    while b"MESSAGE" not in received:  # frames run in order: its SUBSCRIBE is in
        received += stalled.recv(4096)
    watcher = Client.unix(server.socket_path, window=5, deadline=20)
    caplog.set_level(logging.WARNING, "vdsm_hosted_engine.rpc")
    big = {"sentence": "x" * 20_000}
    done = threading.Event()

    def agent():
        for _ in range(500):  # 10 MB for a socket that reads nothing
            server.notify("|hosted-engine|status", big)
        done.set()

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    thread.join(30)  # a safety net, not a speed target: before the fix it never returned
    assert done.is_set(), "notify blocked on a subscriber that does not read"
    try:
        assert closed_by_server(stalled)
        assert any("fell behind" in r.getMessage() for r in caplog.records)
        assert watcher.call("Test.echo", {"still": "up"}) == {"still": "up"}
    finally:
        stalled.close()
        watcher.close()


def test_a_client_that_floods_requests_without_reading_answers_blocks_nobody_else(make_server):
    """Finding 1 and 8: 2,000 requests whose answers are never read used to tie up every worker in
    sendall; now the flooder's reading pauses and others are served."""
    server = make_server(send_high=64 * 1024, send_max=1024 * 1024)
    body = b'[{"jsonrpc": "2.0", "method": "Test.echo", "params": {"pad": "' + b"p" * 2000 + b'"}, "id": 1}]'
    send = Frame("SEND", {"destination": REQUEST_QUEUE, "reply-to": "r", "content-length": str(len(body))}, body)
    flooder = raw_connection(server.socket_path, CONNECT, Frame("SUBSCRIBE", {"destination": "r", "id": "1"}))
    flooder.settimeout(5)
    sent = 0
    try:
        for _ in range(2000):
            flooder.sendall(send.encode())
            sent += 1
    except TimeoutError:
        pass  # the server stopped reading: exactly the backpressure wanted
    try:
        client = Client.unix(server.socket_path, window=5, deadline=20)
        assert client.call("Test.echo", {"x": "1"}) == {"x": "1"}
        client.close()
        assert server._queued <= server.limits.queued
    finally:
        flooder.close()
    assert sent > 0


def test_a_tls_client_hello_trickling_in_is_cut_at_the_handshake_deadline(tmp_pki):  # noqa: F811
    """Finding 2: the handshake timeout was per recv, so one byte every few seconds held it forever."""
    server = Server(METHODS, limits=Limits(tls_handshake_timeout=1.0))
    context = tls_context(str(tmp_pki / "vdsm.pem"), str(tmp_pki / "vdsm.key"), str(tmp_pki / "ca.pem"))
    port = server.listen_tcp("127.0.0.1", 0, tls=context)
    server.start()
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200)
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        for byte in hello:  # 0.1 s per byte: 20 s in all, far beyond the 1 s deadline
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                break
        else:
            pytest.fail("the server still waits for the rest of a ClientHello")
        assert closed_by_server(sock, 5)
    finally:
        sock.close()
        server.stop()


EMFILE_SERVER = textwrap.dedent(
    """
    import logging, resource, sys
    from vdsm_hosted_engine.rpc.server import Limits, Server
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    server = Server({"Test.echo": lambda p: p}, workers=2, limits=Limits(connections=1000, accept_backoff=0.2))
    server.listen_unix(sys.argv[1])
    server.start()
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
    """
)


def test_a_listener_survives_running_out_of_file_descriptors(tmp_path):
    """Finding 2: the accept loop ended at the first EMFILE, and nothing was ever accepted again."""
    path = str(tmp_path / "he.sock")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    daemon = subprocess.Popen(
        [sys.executable, "-c", EMFILE_SERVER, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    held = []
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(daemon.stderr), daemon=True)
    try:
        assert daemon.stdout.readline() == "ready\n"
        reader.start()
        for _ in range(60):  # more than the 48 descriptors the server may have
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(5)
            sock.connect(path)
            held.append(sock)
        wait_for(lambda: any("cannot accept" in line for line in log), timeout=20, what="the server out of descriptors")
        # The last one was connected but not accepted: its CONNECT stays unanswered while the server
        # has no descriptor left. Closing the others gives them back.
        last = held.pop()
        last.sendall(CONNECT.encode())
        for sock in held:
            sock.close()
        held.clear()
        last.settimeout(20)
        assert last.recv(4096).startswith(b"CONNECTED")
        last.close()
        client = Client.unix(path, window=5, deadline=20)
        assert client.call("Test.echo", {"after": "emfile"}) == {"after": "emfile"}
        client.close()
    finally:
        for sock in held:
            sock.close()
        daemon.stdin.close()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    reader.join(10)
    text = "".join(log)
    assert text.count("cannot accept a connection (Too many open files)") == 1, text
    assert "accepting connections again" in text


def test_more_connections_than_the_cap_are_closed_and_the_others_served(make_server):
    server = make_server(connections=3)
    first = [Client.unix(server.socket_path, window=5, deadline=20) for _ in range(3)]
    extra = raw_connection(server.socket_path)
    try:
        assert closed_by_server(extra)
        assert first[0].call("Test.echo", {"n": "1"}) == {"n": "1"}
        first.pop().close()
        again = Client.unix(server.socket_path, window=5, deadline=20)
        assert again.call("Test.echo", {"n": "2"}) == {"n": "2"}
        again.close()
    finally:
        extra.close()
        for client in first:
            client.close()


def test_one_subscription_beyond_the_cap_is_an_error(make_server):
    server = make_server(subscriptions=2)
    frames = [Frame("SUBSCRIBE", {"destination": f"d{i}", "id": str(i)}) for i in range(3)]
    sock = raw_connection(server.socket_path, CONNECT, *frames)
    sock.settimeout(10)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    finally:
        sock.close()
    assert b"ERROR" in received and b"more than 2 subscriptions" in received


@pytest.mark.parametrize(
    "limits, frames",
    [
        ({"connect_timeout": 0.5}, []),  # connected, never says CONNECT
        ({"idle_timeout": 0.5}, [CONNECT]),  # CONNECTed, then nothing
    ],
    ids=["no-connect", "idle"],
)
def test_a_silent_connection_is_closed(make_server, limits, frames):
    server = make_server(**limits)
    sock = raw_connection(server.socket_path, *frames)
    try:
        assert closed_by_server(sock)
    finally:
        sock.close()


def test_an_event_subscriber_is_not_idle(make_server):
    server = make_server(idle_timeout=0.5)
    client = Client.unix(server.socket_path, window=1, deadline=20)
    client.subscribe_events()
    client.call("Test.echo")
    try:
        # Three times the idle timeout later, by the heart-beats received (window 1 s: one each 0.5 s).
        client.sock.settimeout(10)
        for _ in range(3):
            assert client.sock.recv(1) == b"\n"
        assert client.call("Test.echo", {"alive": "yes"}) == {"alive": "yes"}
    finally:
        client.close()


def test_the_client_gives_up_at_its_deadline_although_heart_beats_arrive(make_server):
    """Finding 7: heart-beats reset the client's window, so a call to a stuck verb waited forever."""
    server = make_server()
    released = threading.Event()
    server.methods["Test.stuck"] = lambda params: released.wait(60)
    client = Client.unix(server.socket_path, window=1, deadline=3)
    try:
        with pytest.raises(ClientError, match="no answer within 3 s"):
            client.call("Test.stuck")
    finally:
        released.set()
        client.close()
