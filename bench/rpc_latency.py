#!/usr/bin/env python3
"""HostedEngine.getStatus latency over the Unix socket and TCP loopback (p50/p99), and calls/s with
16 concurrent clients, on a full-size (8 MiB, 2001-slot) whiteboard with 8 hosts. Two cases: the
daemon's normal path (the agent's view from its last cycle, no storage I/O per call) and the stale
path (one O_DIRECT read + decode of the whole area per call). Target (issue 4): p99 <= 5 ms locally."""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm_hosted_engine.rpc.client import Client
from vdsm_hosted_engine.rpc.server import Server
from vdsm_hosted_engine.storage import whiteboard as wb
from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
from vdsm_hosted_engine.storage.whiteboard_file import WhiteboardFile, create_metadata_file
from vdsm_hosted_engine.verbs.api import HostedEngine, methods
from vdsm_hosted_engine.verbs.schema import Schema


class FileBackend:
    """A real whiteboard file; `cached` serves one read as the daemon serves the agent's last view.
    Liveness fixed (no sanlock needed for the measurement)."""

    host_id = 1

    def __init__(self, path, cached):
        self.file = WhiteboardFile(path)
        self.board = self.file.read() if cached else None

    def whiteboard(self, fresh=False):
        return self.board if self.board is not None and not fresh else self.file.read()

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        build(os.path.join(d, "md"))
        print(f"getStatus, {args.calls} sequential calls per row (8 hosts on a full 8 MiB whiteboard)")
        print(f"{'path':34}{'transport':11}{'p50 ms':>9}{'p99 ms':>9}")
        for label, cached in (("agent's last view (daemon)", True), ("fresh O_DIRECT read per call", False)):
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
                    print(f"{label:34}{name:11}{statistics.median(times) * 1000:>9.2f}{p99 * 1000:>9.2f}")
                    client.close()
                if cached:
                    clients = [Client.unix(sock) for _ in range(16)]
                    per_client = max(args.calls // 16, 50)
                    started = time.perf_counter()
                    threads = [threading.Thread(target=measure, args=(c, per_client)) for c in clients]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    elapsed = time.perf_counter() - started
                    print(f"16 clients over unix ({label}): {16 * per_client / elapsed:.0f} calls/s")
                    for c in clients:
                        c.close()
            finally:
                server.stop()


if __name__ == "__main__":
    main()
