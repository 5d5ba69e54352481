"""`hosted-engine --deploy`: the line-by-line front end's output and the command's options.

    hosted-engine --deploy [--tui] [--config-append=FILE ...] [--generate-answer=FILE] [--force]
    hosted-engine --deploy --join --storage=PATH|SERVER:/PATH [--storage-type=nfs|glusterfs --mnt-options=...]
                  [--hostname=NAME] [--mnt-root=DIR]
                  [--conf-dir=DIR --run-dir=DIR --hooks-dir=DIR --libvirt-uri=URI --domain-type=kvm|qemu|test]

Answered questions are skipped; the rest are asked; a summary is confirmed before anything changes;
the answers are saved (`<conf-dir>/answers.conf`, and `--generate-answer`) before the first change.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from vdsm_hosted_engine.deploy import answers as answer_file
from vdsm_hosted_engine.deploy.engine import DeployAborted, collect
from vdsm_hosted_engine.deploy.prompts import Prompts
from vdsm_hosted_engine.deploy.steps import Deployment, HostPaths
from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.storage.connection import DEFAULT_MOUNT_ROOT, StorageConnection


class LineReporter:
    def __init__(self, out=sys.stdout) -> None:
        self.out = out
        self._last_wait = -1e9
        self._started = time.monotonic()

    def _line(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self._started:7.1f} s] {text}\n")
        self.out.flush()

    def step(self, name: str) -> None:
        self._line(name)

    def progress(self, fraction: float) -> None:
        width = 30
        done = int(fraction * width)
        self.out.write(f"\r          [{'#' * done}{' ' * (width - done)}] {fraction * 100:5.1f}%")
        if fraction >= 1.0:
            self.out.write("\n")
        self.out.flush()

    def waiting(self, what: str, elapsed: float, timeout: float) -> None:
        if elapsed - self._last_wait >= 10:
            self._last_wait = elapsed
            self._line(f"  waiting for {what}: {elapsed:.0f} s of at most {timeout:.0f} s")

    def info(self, text: str) -> None:
        self._line(f"  {text}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-append",
        action="append",
        default=[],
        metavar="FILE",
        help="answer file(s): [environment:default] KEY=type:value",
    )
    parser.add_argument("--generate-answer", metavar="FILE", help="write the answers here")
    parser.add_argument("--conf-dir", default="/etc/ovirt-hosted-engine")
    parser.add_argument("--run-dir", default="/run/vdsm-hosted-engine")
    parser.add_argument(
        "--hooks-dir",
        default="/usr/libexec/vdsm/hooks",
        help="VDSM hook directories; must hold the lease hook (before_vm_start/50_hosted_engine): checked first",
    )
    parser.add_argument("--libvirt-uri", default="qemu:///system")
    parser.add_argument("--domain-type", choices=("kvm", "qemu", "test"), default="kvm")
    parser.add_argument("--health-timeout", type=float, default=900.0)
    parser.add_argument("--tui", action="store_true", help="full-screen questions (Textual)")
    parser.add_argument("--join", action="store_true", help="join a deployed cluster (with --storage)")
    parser.add_argument("--storage", help="with --join: the storage domain path, or the connection (server:/path)")
    parser.add_argument(
        "--storage-type", choices=("dir", "nfs", "glusterfs", "posixfs"), default="dir", help="with --join: domainType"
    )
    parser.add_argument("--mnt-options", default="", help="with --join: mount options of the connection")
    parser.add_argument("--mnt-root", default=DEFAULT_MOUNT_ROOT, help="where storage connections are mounted")
    parser.add_argument("--hostname", default=os.uname().nodename, help="with --join: the name this host publishes")


def run(args: argparse.Namespace) -> int:
    paths = HostPaths(args.conf_dir, args.run_dir, args.hooks_dir, args.libvirt_uri, args.domain_type, args.mnt_root)
    if args.join:
        from vdsm_hosted_engine.deploy.join import join

        if not args.storage:
            raise InvalidRequest("--join needs --storage=PATH (the deployed storage domain)")
        try:
            connection = StorageConnection.parse(args.storage_type, args.storage, args.mnt_options)
        except ValueError as e:
            raise InvalidRequest(str(e)) from None
        host_id = join(args.storage, paths, args.hostname, force=args.force, connection=connection)
        print(f"Success: joined as host id {host_id}. Start the agent: systemctl enable --now vdsm-hosted-engine")
        return 0
    preset: dict = {}
    for path in args.config_append:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise InvalidRequest(f"cannot read the answer file {path}: {e.strerror}") from None
        preset.update(answer_file.parse(text, path))
    if args.tui:
        from vdsm_hosted_engine.deploy.tui import DeployForm

        answers = DeployForm(preset).run()
        if answers is None:
            raise DeployAborted("deploy cancelled: nothing was changed")
    else:
        answers = collect(Prompts(), preset)
    text = answer_file.render(answers)
    os.makedirs(args.conf_dir, exist_ok=True)
    for path in filter(None, (args.generate_answer, os.path.join(args.conf_dir, "answers.conf"))):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    Deployment(answers, paths, LineReporter(), force=args.force, health_timeout=args.health_timeout).run()
    print(
        "Success: the Engine VM is up on this host under HA. Start the agent: systemctl enable --now vdsm-hosted-engine"
    )
    return 0
