"""`hosted-engine --deploy`: the line-by-line front end's output and the command's options.

    hosted-engine --deploy [--tui] [--config-append=FILE ...] [--generate-answer=FILE] [--force]
                  [--allow-local-storage] [--keep-password-hash]
    hosted-engine --deploy --join --storage=PATH|SERVER:/PATH [--storage-type=nfs|glusterfs|posixfs --mnt-options=...]
                  [--nfs-version=V] [--vfs-type=T]
                  [--hostname=NAME] [--mnt-root=DIR]
                  [--conf-dir=DIR --run-dir=DIR --hooks-dir=DIR --libvirt-uri=URI --domain-type=auto|kvm|qemu|test]
    hosted-engine --cleanup [--force] [--conf-dir=DIR --run-dir=DIR --libvirt-uri=URI]

Answered questions are skipped; the rest are asked; a summary is confirmed before anything changes;
the answers are saved (`<conf-dir>/answers.conf`, and `--generate-answer`) before the first change,
and a failure says how to reuse them. Ctrl-C undoes what was done (exit 130). The ending starts the
HA daemon through systemd where its unit is installed and waits for the agent's EngineUp; elsewhere it
says exactly what to run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from vdsm_hosted_engine.deploy import answers as answer_file
from vdsm_hosted_engine.deploy import machine, service, storage_connection
from vdsm_hosted_engine.deploy.engine import DeployAborted, collect
from vdsm_hosted_engine.deploy.prompts import Prompts
from vdsm_hosted_engine.deploy.steps import DeployInterrupted, Deployment, HostPaths
from vdsm_hosted_engine.deploy.validators import Context
from vdsm_hosted_engine.errors import HostedEngineError, InvalidRequest
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
        help="with --deploy: answer file(s) ([environment:default] KEY=type:value, oVirt's format); answered "
        "questions are not asked",
    )
    parser.add_argument("--generate-answer", metavar="FILE", help="with --deploy: also write the answers here")
    parser.add_argument(
        "--keep-password-hash",
        action="store_true",
        help="with --deploy: the answer files keep the Engine VM root password's hash (left out by default)",
    )
    parser.add_argument(
        "--allow-local-storage",
        action="store_true",
        help="with --deploy: accept a storage path on a local or memory filesystem (a single-machine lab: other "
        "hosts cannot see it on a real cluster)",
    )
    parser.add_argument(
        "--conf-dir",
        default="/etc/ovirt-hosted-engine",
        help="with --deploy/--cleanup: where hosted-engine.conf, vm.conf and answers.conf go (default: %(default)s)",
    )
    parser.add_argument(
        "--run-dir",
        default="/run/vdsm-hosted-engine",
        help="with --deploy/--cleanup: the daemon's runtime directory (default: %(default)s)",
    )
    parser.add_argument(
        "--hooks-dir",
        default="/usr/libexec/vdsm/hooks",
        help="VDSM hook directories; must hold the lease hook (before_vm_start/50_hosted_engine): checked first",
    )
    parser.add_argument(
        "--libvirt-uri", default="qemu:///system", help="with --deploy/--cleanup: libvirt (default: %(default)s)"
    )
    parser.add_argument(
        "--domain-type",
        choices=("auto", "kvm", "qemu", "test"),
        default="auto",
        help="with --deploy: kvm (hardware virtualization), qemu (TCG emulation), test (libvirt's test driver) "
        "or auto (default: kvm where the CPU and /dev/kvm offer it, else qemu; the choice is shown)",
    )
    parser.add_argument(
        "--health-timeout",
        type=float,
        default=900.0,
        help="with --deploy: seconds to wait for the Engine's health page, and for the agent's EngineUp",
    )
    parser.add_argument(
        "--tui", action="store_true", help="with --deploy: full-screen questions (Textual; works from 80x24)"
    )
    parser.add_argument("--join", action="store_true", help="with --deploy: join a deployed cluster (with --storage)")
    parser.add_argument(
        "--storage", help="with --deploy --join: the storage domain path, or the connection (server:/path)"
    )
    parser.add_argument(
        "--storage-type",
        choices=("dir", "nfs", "glusterfs", "posixfs"),
        default="dir",
        help="with --deploy --join: domainType of --storage (default: %(default)s)",
    )
    parser.add_argument("--mnt-options", default="", help="with --deploy --join: mount options of the connection")
    parser.add_argument(
        "--nfs-version", default="auto", help="with --deploy --join --storage-type=nfs: the NFS version (default: auto)"
    )
    parser.add_argument("--vfs-type", help="with --deploy --join --storage-type=posixfs: the file system type")
    parser.add_argument(
        "--mnt-root", default=DEFAULT_MOUNT_ROOT, help="with --deploy: where storage connections are mounted"
    )
    parser.add_argument(
        "--hostname", default=os.uname().nodename, help="with --deploy --join: the name this host publishes"
    )


def cleanup(args: argparse.Namespace) -> int:
    """`hosted-engine --cleanup [--force]`."""
    from vdsm_hosted_engine.deploy.cleanup import cleanup as remove

    result = remove(args.conf_dir, args.run_dir, args.libvirt_uri, force=args.force)
    for what in result.removed:
        print(f"removed {what}")
    for what in result.kept:
        print(f"kept {what}")
    if result.left:
        print("could not remove (clean by hand): " + "; ".join(result.left), file=sys.stderr)
        return 1
    if not result.removed and not result.kept:
        print("Nothing to clean: no hosted-engine deployment on this host")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\ninterrupted before any change: nothing was changed", file=sys.stderr)
        return 130
    except DeployInterrupted as e:
        print(f"\n{e}", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    domain_type, why = machine.virtualization()
    if args.domain_type == "auto":
        args.domain_type = domain_type
        if not args.join:
            print(f"Engine VM virtualization: {domain_type} ({why})")
    elif args.domain_type == "kvm" and domain_type != "kvm":
        raise InvalidRequest(f"--domain-type=kvm, but {why.split(':')[0]}: use --domain-type=qemu (or auto)")
    paths = HostPaths(args.conf_dir, args.run_dir, args.hooks_dir, args.libvirt_uri, args.domain_type, args.mnt_root)
    if args.join:
        from vdsm_hosted_engine.deploy.join import join

        if not args.storage:
            raise InvalidRequest("--join needs --storage=PATH (the deployed storage domain)")
        try:
            connection = StorageConnection.parse(
                args.storage_type, args.storage, args.mnt_options, args.nfs_version, args.vfs_type
            )
        except ValueError as e:
            raise InvalidRequest(str(e)) from None
        host_id = join(args.storage, paths, args.hostname, force=args.force, connection=connection)
        start = (
            f"systemctl enable --now {service.UNIT}"
            if service.unit_installed()
            else service.manual_command(paths.host_conf)
        )
        print(f"Success: joined as host id {host_id}. Start the agent: {start}")
        return 0
    context = Context(allow_local_storage=args.allow_local_storage, domain_type=args.domain_type)
    preset: dict = {}
    for path in args.config_append:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise InvalidRequest(f"cannot read the answer file {path}: {e.strerror}") from None
        read = answer_file.read(text, path, context)
        for warning in read.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        preset.update(read.answers)
    if args.tui:
        from vdsm_hosted_engine.deploy.tui import DeployForm

        answers = DeployForm(preset, context).run()
        if answers is None:
            raise DeployAborted("deploy cancelled: nothing was changed")
    else:
        answers = collect(Prompts(), preset, context)
    text = answer_file.render(answers, keep_secrets=args.keep_password_hash)
    os.makedirs(args.conf_dir, exist_ok=True)
    saved = os.path.join(args.conf_dir, "answers.conf")
    for path in filter(None, (args.generate_answer, saved)):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    start_ha = service.unit_installed()
    deployment = Deployment(
        answers, paths, LineReporter(), force=args.force, health_timeout=args.health_timeout, start_ha=start_ha
    )
    try:
        deployment.run()
    except HostedEngineError:
        print(f"Your answers are saved: hosted-engine --deploy --config-append={saved} reuses them", file=sys.stderr)
        raise
    print(_ending(answers, paths, start_ha))
    return 0


def _ending(answers: dict, paths: HostPaths, start_ha: bool) -> str:
    """What deploy says last: who has the Engine VM now, and what to do next."""
    fqdn = answers["OVEHOSTED_VM/fqdn"]
    join = storage_connection.join_arguments(answers)
    if start_ha:
        head = f"Success: HA has the Engine VM: the agent ({service.UNIT}) reports EngineUp."
    else:
        head = (
            "The Engine VM is up on this host, but HA does not have it until the agent runs, and this host has no "
            f"systemd unit {service.UNIT} to start. Start the agent now:\n"
            f"  {service.manual_command(paths.host_conf)}"
        )
    return (
        f"{head}\nThe Engine: https://{fqdn}/ovirt-engine\nNext: hosted-engine --vm-status shows the hosts; "
        f"on every other host: hosted-engine --deploy --join {join}"
    )
