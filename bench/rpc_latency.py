#!/usr/bin/env python3
"""HostedEngine.getStatus over the real RPC server and verbs, on a full-size (8 MiB, 2001-slot)
whiteboard with 8 hosts: p50/p99 for one client (Unix socket and TCP loopback), then calls/s and the
server's CPU per call with 16 client processes on the Unix socket.

Two serving paths: the daemon's (the agent's last cycle view: no storage or sanlock call per request)
and a read per call (one O_DIRECT read + decode of the whole area and a liveness query per request,
what every call cost before the view). Liveness is fixed here (no sanlock daemon), so the read-per-call
row omits sanlock's own CPU. The server runs in this process; its CPU per call is this process's CPU
time over the calls, the clients being other processes.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm_hosted_engine.ha.view import ClusterView
from vdsm_hosted_engine.rpc.client import Client
from vdsm_hosted_engine.rpc.server import Server
from vdsm_hosted_engine.storage import whiteboard as wb
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard_file import WhiteboardFile, create_metadata_file
from vdsm_hosted_engine.verbs.api import HostedEngine, methods
from vdsm_hosted_engine.verbs.schema import Schema

CLIENTS = 16


class FileBackend:
    """A real whiteboard file. `cached`: the view is read once, as the agent's cycle leaves it;
    otherwise every request reads it (and asks for liveness)."""

    host_id = 1

    def __init__(self, path, cached):
        self.file = WhiteboardFile(path)
        self.cached = ClusterView(self.file.read(), self.liveness(), time.monotonic()) if cached else None

    def view(self):
        view = self.cached or ClusterView(self.file.read(), self.liveness(), time.monotonic())
        return view, time.monotonic() - view.read_at

    def whiteboard(self, fresh=False):
        return self.file.read() if fresh else self.view()[0].board

    def liveness(self):
        return {h: Liveness.LIVE for h in range(1, 9)}


def build(path):
    create_metadata_file(path)
    status = {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}
    with open(path, "r+b") as f:
        for host_id in range(1, 9):
            f.seek(host_id * 4096)
            f.write(wb.encode_host_slot(wb.HostSlot(host_id, 100, 3400, status, f"host{host_id}", state="EngineDown")))


def measure(client, calls):
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client.call("HostedEngine.getStatus")
        times.append(time.perf_counter() - started)
    return times


def client_process(sock, calls, barrier):
    """One of the 16 clients: connect and warm up, then the timed calls between two barriers."""
    client = Client.unix(sock)
    measure(client, 10)
    barrier.wait()
    measure(client, calls)
    barrier.wait()
    client.close()


def many_clients(sock, per_client):
    """(calls/s, server CPU ms per call) for CLIENTS processes calling at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(CLIENTS + 1)
    processes = [context.Process(target=client_process, args=(sock, per_client, barrier)) for _ in range(CLIENTS)]
    for p in processes:
        p.start()
    try:
        barrier.wait(timeout=120)
        started, cpu = time.perf_counter(), time.process_time()
        barrier.wait(timeout=600)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        for p in processes:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    calls = CLIENTS * per_client
    return calls / elapsed, cpu / calls * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        build(os.path.join(d, "md"))
        print(f"getStatus, {args.calls} sequential calls per single-client row (8 hosts on a full 8 MiB whiteboard)")
        print(f"{'path':30}{'transport':11}{'p50 ms':>9}{'p99 ms':>9}")
        rows = []
        for label, cached in (("agent's view (daemon)", True), ("read per call", False)):
            server = Server(methods(HostedEngine(FileBackend(os.path.join(d, "md"), cached)), Schema.load()))
            sock = os.path.join(d, f"he-{cached}.sock")
            server.listen_unix(sock)
            port = server.listen_tcp("127.0.0.1", 0, allow_plain=True)
            server.start()
            try:
                calls = args.calls if cached else max(args.calls // 10, 50)
                for name, client in (("unix", Client.unix(sock)), ("tcp", Client.tcp("127.0.0.1", port))):
                    measure(client, 20)
                    times = sorted(measure(client, calls))
                    p99 = times[max(int(0.99 * len(times)) - 1, 0)]
                    print(f"{label:30}{name:11}{statistics.median(times) * 1000:>9.2f}{p99 * 1000:>9.2f}")
                    client.close()
                rows.append((label, *many_clients(sock, max(calls // CLIENTS, 20))))
            finally:
                server.stop()
        print(f"\n{CLIENTS} client processes over unix")
        print(f"{'path':30}{'calls/s':>9}{'server CPU ms/call':>20}")
        for label, rate, cpu in rows:
            print(f"{label:30}{rate:>9.0f}{cpu:>20.3f}")


if __name__ == "__main__":
    main()
