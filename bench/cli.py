#!/usr/bin/env python3
"""`hosted-engine --vm-status` as admins and monitoring run it: a whole new process each time.

A getStatus server (the real RPC server and verbs, 8 hosts in the agent's view) listens at the
run_dir of a real hosted-engine.conf; each run is a fresh interpreter running the CLI with that
--config. A bare interpreter start (`python -c pass`, same interpreter, same environment) is
measured in the same run, interleaved, so machine load hits both alike. Our modules run byte-compiled,
as installed (the RPM ships .pyc): the package is copied to a temporary directory and compiled there.
Target (issue 16): the CLI's median within 50 ms of the bare start's.
"""

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.rpc_latency import FileBackend, build  # noqa: E402
from vdsm_hosted_engine.rpc.server import Server  # noqa: E402
from vdsm_hosted_engine.verbs.api import HostedEngine, methods  # noqa: E402
from vdsm_hosted_engine.verbs.schema import Schema  # noqa: E402

VM_ID = "5c0a6f3e-9a53-4f0c-8a53-0a8c0c2ff1a1"


def run(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter of both processes (e.g. /usr/bin/python3: no virtualenv's site hooks, as installed)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        installed = os.path.join(d, "site")
        shutil.copytree(os.path.join(ROOT, "vdsm_hosted_engine"), os.path.join(installed, "vdsm_hosted_engine"))
        compileall.compile_dir(installed, quiet=1)
        env = {**os.environ, "PYTHONPATH": installed}
        metadata = os.path.join(d, "md")
        build(metadata)
        run_dir = os.path.join(d, "run")
        os.mkdir(run_dir)
        conf = os.path.join(d, "hosted-engine.conf")
        with open(conf, "w") as f:
            f.write(f"host_id=1\nstorage={d}\nvmid={VM_ID}\nrun_dir={run_dir}\n")
        server = Server(methods(HostedEngine(FileBackend(metadata, cached=True)), Schema.load()))
        server.listen_unix(os.path.join(run_dir, "hosted-engine.sock"))
        server.start()
        try:
            bare_argv = [args.python, "-c", "pass"]
            # What the installed console script runs; the working directory (first on sys.path) holds
            # no package, so the compiled copy is what gets imported.
            script = "import sys; from vdsm_hosted_engine.cli.hosted_engine import main; sys.exit(main())"
            cli_argv = [args.python, "-c", script, "--vm-status", "--config", conf]
            run(cli_argv, env, d)  # warms the page cache
            bare, cli = [], []
            for _ in range(args.runs):
                bare.append(run(bare_argv, env, d))
                cli.append(run(cli_argv, env, d))
        finally:
            server.stop()

    def ms(runs: list[tuple[float, float]], index: int) -> float:
        return statistics.median(r[index] for r in runs) * 1000

    print(f"whole process, median of {args.runs} interleaved runs ({args.python}); load {os.getloadavg()[0]:.1f}")
    print(f"{'':34}{'wall ms':>9}{'CPU ms':>9}")
    print(f"{'python -c pass':34}{ms(bare, 0):9.1f}{ms(bare, 1):9.1f}")
    print(f"{'hosted-engine --vm-status':34}{ms(cli, 0):9.1f}{ms(cli, 1):9.1f}")
    print(f"{'difference':34}{ms(cli, 0) - ms(bare, 0):9.1f}{ms(cli, 1) - ms(bare, 1):9.1f}   (target: wall <= 50 ms)")


if __name__ == "__main__":
    main()
