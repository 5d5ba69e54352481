#!/usr/bin/env python3
"""The RPC server under the abuse classes of vdsm_hosted_engine/lab/rpc_abuse.py, on a Unix socket.

The server runs in a child process with the daemon's limits and a thread standing in for the HA
agent, which calls `notify` every 20 ms with a 2 KB event. For each class this prints the server's
RSS and descriptor count before and after, its RSS high-water mark (VmHWM), the slowest `notify`
during the class (the agent must never wait on a client) and a normal getStatus's latency after it.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm_hosted_engine.lab import rpc_abuse
from vdsm_hosted_engine.rpc.client import Client

SERVER = """
import json, sys, threading, time
from vdsm_hosted_engine.rpc.server import Server
server = Server({"HostedEngine.getStatus": lambda p: {"global_maintenance": False}})
server.listen_unix(sys.argv[1])
server.start()
slowest = [0.0]
def agent():
    event = {"hostId": 1, "state": "EngineUp", "sentence": "x" * 2000}
    while True:
        started = time.perf_counter()
        server.notify("|hosted-engine|status", event)
        slowest[0] = max(slowest[0], time.perf_counter() - started)
        time.sleep(0.02)
threading.Thread(target=agent, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    print(json.dumps({"slowest_notify_ms": slowest[0] * 1000}), flush=True)
    slowest[0] = 0.0
server.stop()
"""


def proc_status(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) // 1024  # MiB
    values["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return values


def get_status_ms(path: str) -> float:
    started = time.perf_counter()
    client = Client.unix(path, window=5, deadline=5)
    try:
        client.call("HostedEngine.getStatus")
    finally:
        client.close()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "he.sock")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": root},
        )
        try:
            assert server.stdout.readline() == "ready\n"
            get_status_ms(path)
            server.stdin.write("reset\n")
            server.stdin.flush()
            server.stdout.readline()
            print(
                f"{'class':22} {'RSS MiB':>13} {'HWM MiB':>8} {'fds':>9} {'notify max ms':>14} "
                f"{'getStatus ms':>13}  what"
            )
            for name, abuse in rpc_abuse.CLASSES.items():
                before = proc_status(server.pid)
                started = time.monotonic()
                what = abuse(path, "HostedEngine.getStatus", rng)
                took = time.monotonic() - started
                after_call = get_status_ms(path)
                server.stdin.write("stats\n")
                server.stdin.flush()
                slowest = json.loads(server.stdout.readline())["slowest_notify_ms"]
                after = proc_status(server.pid)
                print(
                    f"{name:22} {before['VmRSS']:>5} -> {after['VmRSS']:<5} {after['VmHWM']:>8} "
                    f"{before['fds']:>3} -> {after['fds']:<3} {slowest:>14.2f} {after_call:>13.1f}  "
                    f"{what} ({took:.1f} s)"
                )
        finally:
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
