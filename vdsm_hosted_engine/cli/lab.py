"""`hosted-engine-lab`: try the product on one machine, with several simulated hypervisor hosts.

    hosted-engine-lab demo                      3 hosts, deploy, crash the Engine's host, watch it come back
    hosted-engine-lab up [--hosts N] [--bare] [--storage=dir|gluster]
                                                boot N hosts; deploy on host1, join the others, start agents
    hosted-engine-lab down [--purge]            stop everything the lab started (--purge: delete its folder)
    hosted-engine-lab status                    hosts, where the Engine runs, the audit
    hosted-engine-lab exec HOST CMD...          run a command inside a host (e.g. hosted-engine --vm-status)
    hosted-engine-lab crash-host HOST | restart-host HOST
    hosted-engine-lab cut-network HOST|all | restore-network HOST|all
    hosted-engine-lab cut-storage HOST|all [--for SECONDS] | restore-storage HOST|all
    hosted-engine-lab power-cut [HOST...] | power-back [--one-by-one] [HOST...]
    hosted-engine-lab stop-libvirtd HOST | start-libvirtd HOST | restart-libvirtd HOST
    hosted-engine-lab stop-agent HOST | start-agent HOST [--no-hooks] | hang-agent HOST | resume-agent HOST
    hosted-engine-lab kill-vm | engine-unhealthy | engine-healthy
    hosted-engine-lab kill-brick HOST | start-bricks | gluster-rss      (gluster lab)
    hosted-engine-lab degrade-host HOST cpu|memory | heal-host HOST

Every command takes --dir (default /var/tmp/hosted-engine-lab); `up` also --network and --switch (two
labs on one machine). Needs root (namespaces, bridges).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.lab import audit
from vdsm_hosted_engine.lab.lab import DEFAULT_DIR, DEFAULT_NETWORK, DEFAULT_SWITCH, Lab


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hosted-engine-lab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.environ.get("HOSTED_ENGINE_LAB", DEFAULT_DIR))
    parser.add_argument("--network", default=DEFAULT_NETWORK, help="the lab's subnet (up)")
    parser.add_argument("--switch", default=DEFAULT_SWITCH, help="the lab's bridge name (up)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="boot the hosts and deploy the Engine")
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument("--bare", action="store_true", help="hosts only: no deploy, no agents")
    up.add_argument(
        "--storage", choices=("dir", "gluster"), default="dir", help="the domain: a shared directory or GlusterFS"
    )
    down = sub.add_parser("down", help="stop everything the lab started")
    down.add_argument("--purge", action="store_true", help="also delete the lab folder")
    sub.add_parser("status", help="hosts, the Engine's place, the audit")
    sub.add_parser("demo", help="a temporary 3-host lab: deploy, crash the Engine's host, torn down after")
    run = sub.add_parser("exec", help="run a command inside a host")
    run.add_argument("host")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    for name in ("crash-host", "restart-host"):
        sub.add_parser(name).add_argument("host")
    for name in ("cut-network", "restore-network"):
        sub.add_parser(name).add_argument("host", help="a host name, or all")
    cut = sub.add_parser("cut-storage", help="the host (or all) loses its storage (gluster: its traffic)")
    cut.add_argument("host", help="a host name, or all")
    cut.add_argument("--for", dest="seconds", type=float, help="restore it after this many seconds")
    sub.add_parser("restore-storage").add_argument("host", help="a host name, or all")
    power = sub.add_parser("power-cut", help="the hosts (default: all) lose power at the same instant")
    power.add_argument("hosts", nargs="*")
    back = sub.add_parser("power-back", help="boot the hosts that are down (default: all) and start their agents")
    back.add_argument("hosts", nargs="*")
    back.add_argument("--one-by-one", action="store_true", help="each host's agent joined before the next boots")
    for name in ("heal-host", "stop-libvirtd", "start-libvirtd", "restart-libvirtd", "stop-agent", "hang-agent",
                 "resume-agent"):  # fmt: skip
        sub.add_parser(name).add_argument("host")
    agent = sub.add_parser("start-agent", help="start the host's daemon")
    agent.add_argument("host")
    agent.add_argument("--no-hooks", action="store_true", help="with an empty hooks directory")
    degrade = sub.add_parser("degrade-host", help="CPU or memory pressure on a host (its cgroup)")
    degrade.add_argument("host")
    degrade.add_argument("kind", choices=("cpu", "memory"))
    for name in ("kill-vm", "engine-unhealthy", "engine-healthy", "start-bricks", "gluster-rss"):
        sub.add_parser(name)
    sub.add_parser("kill-brick", help="SIGKILL the host's gluster brick").add_argument("host")
    return parser


def _say(text: str) -> None:
    print(text, flush=True)


def up(lab: Lab, hosts: int, bare: bool, storage: str = "dir") -> None:
    started = time.monotonic()
    timelines = lab.up(hosts, storage)
    for name, timeline in sorted(timelines.items()):
        _say(f"{name}: up ({lab.host(name).address}); libvirtd answering after {timeline['libvirtd']:.1f} s")
    if storage == "gluster":
        _say(f"gluster volume {lab.storage_connection().spec} started in {time.monotonic() - started:.0f} s "
             f"(sanlock io_timeout {lab.io_timeout} s)")  # fmt: skip
    if bare:
        return
    _say("host1: hosted-engine --deploy (answer file: the lab appliance) ...")
    lab.deploy("host1")
    lab.start_agent("host1")
    for name in sorted(lab.hosts)[1:]:
        _say(f"{name}: joined as host id {lab.join(name)}")
        lab.start_agent(name)
    finding = audit.audit(lab, settle=60)
    _say(f"the Engine VM runs on {finding.engine_host}; lab ready in {time.monotonic() - started:.0f} s")


def status(lab: Lab) -> None:
    for name, host in sorted(lab.hosts.items()):
        _say(f"{name}: {'up' if host.alive() else 'down'} {host.address} (host id {lab.host_ids.get(name, '-')})")
    finding = audit.look(lab)
    _say(f"Engine VM qemu: {finding.qemu or 'none'}; lease held on: {finding.lease_holders or 'none'}")
    _say(f"agents: {json.dumps(finding.states)}")
    for problem in finding.safety + finding.agreement:
        _say(f"AUDIT: {problem}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    lab = Lab(args.dir, switch=args.switch, network=args.network)
    try:
        if args.command == "up":
            up(lab, args.hosts, args.bare, args.storage)
        elif args.command == "down":
            for line in lab.down(purge=args.purge) or ["nothing to stop"]:
                _say(line)
        elif args.command == "demo":
            from vdsm_hosted_engine.lab import demo

            demo.run(_say)
        elif args.command == "status":
            status(lab)
        elif args.command == "exec":
            host = lab.host(args.host)
            return subprocess.run(host.nsenter(args.argv or ["sh"]), env=host.env(), check=False).returncode
        elif args.command == "crash-host":
            lab.crash_host(args.host)
        elif args.command == "restart-host":
            lab.restart_host(args.host)
        elif args.command in ("cut-network", "restore-network"):
            lab.set_network(args.host, args.command == "restore-network")
        elif args.command == "cut-storage" and args.seconds:
            _say(f"storage of {', '.join(lab.storage_blip(args.host, args.seconds))} back after {args.seconds:g} s")
        elif args.command in ("cut-storage", "restore-storage"):
            lab.set_storage(args.host, args.command == "restore-storage")
        elif args.command == "power-cut":
            _say(f"power cut: {', '.join(lab.power_cut(args.hosts)) or 'no host was running'}")
        elif args.command == "power-back":
            lab.power_back(args.hosts, one_by_one=args.one_by_one)
        elif args.command in ("stop-libvirtd", "start-libvirtd", "restart-libvirtd"):
            if args.command != "start-libvirtd":
                lab.stop_libvirtd(args.host)
            if args.command != "stop-libvirtd":
                lab.start_libvirtd(args.host)
        elif args.command == "stop-agent":
            lab.stop_agent(args.host)
        elif args.command == "start-agent":
            lab.start_agent(args.host, hooks=not args.no_hooks, wait=not args.no_hooks)
        elif args.command in ("hang-agent", "resume-agent"):
            lab.hang_agent(args.host, args.command == "hang-agent")
        elif args.command == "degrade-host":
            lab.degrade(args.host, args.kind)
        elif args.command == "heal-host":
            lab.heal(args.host)
        elif args.command == "kill-brick":
            _say(f"killed the brick of {args.host} (pid {lab.kill_brick(args.host)} in the host)")
        elif args.command == "start-bricks":
            lab.start_bricks()
        elif args.command == "gluster-rss":
            from vdsm_hosted_engine.lab import gluster

            for name, kinds in sorted(gluster.rss(lab).items()):
                _say(f"{name}: " + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in sorted(kinds.items())))
        elif args.command == "kill-vm":
            _say(f"killed the Engine VM's qemu on {lab.kill_vm()}")
        else:
            _say(lab.set_engine_health(args.command == "engine-healthy"))
    except HostedEngineError as e:
        print(f"hosted-engine-lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
