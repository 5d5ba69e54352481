"""`hosted-engine`: oVirt's options, over the wire protocol to the local daemon's Unix socket.

    hosted-engine --vm-status [--json]
    hosted-engine --set-maintenance --mode=global|local|none
    hosted-engine --vm-start | --vm-shutdown | --vm-poweroff        (global maintenance only)
    hosted-engine --vm-migrate [--host-id=N]                          (live, from the host running it)
    hosted-engine --check-liveliness
    hosted-engine --clean-metadata [--host-id=N] [--force-cleanup]
    hosted-engine --set-shared-config KEY VALUE [--type=he_shared|he_local]
    hosted-engine --get-shared-config KEY [--type=he_shared|he_local]
    hosted-engine --reinitialize-lockspace [--force]
    hosted-engine --check-deployed                                    (rc 0 deployed, 1 not)
    hosted-engine --configure-host [--dry-run] [--root=DIR]          (libvirt's sanlock lock manager)
    hosted-engine --connect-storage | --disconnect-storage            (mount/unmount hosted-engine.conf's storage)
    hosted-engine --console                                           (the Engine VM's serial console)
    hosted-engine call VERB [name=value ...]                         (any verb, vdsm-client style)

Errors: one line on stderr, exit 1 (traceback only with --debug). --check-liveliness exits 0 when the
Engine is up, 1 otherwise, as oVirt's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine.cli.whiteboard_dump import render_text
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.rpc.client import Client


def _socket(args: argparse.Namespace) -> str:
    if args.socket:
        return args.socket
    conf = config_.load_host_config(args.config)
    return os.path.join(conf.run_dir, "hosted-engine.sock")


def _call(args: argparse.Namespace, verb: str, params: dict[str, Any] | None = None) -> Any:
    try:
        client = Client.unix(_socket(args), window=args.timeout)
    except OSError as e:
        raise HostedEngineError(f"cannot reach the local vdsm-hosted-engine daemon: {e.strerror or e}") from None
    try:
        return client.call(f"HostedEngine.{verb}", params or {})
    finally:
        client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hosted-engine", description="manage the self-hosted Engine")
    action = parser.add_mutually_exclusive_group(required=True)
    for flag in (
        "--vm-status",
        "--set-maintenance",
        "--vm-start",
        "--vm-shutdown",
        "--vm-poweroff",
        "--vm-migrate",
        "--check-liveliness",
        "--clean-metadata",
        "--reinitialize-lockspace",
        "--check-deployed",
        "--console",
        "--configure-host",
        "--deploy",
        "--connect-storage",
        "--disconnect-storage",
    ):
        action.add_argument(flag, action="store_true")
    action.add_argument("--set-shared-config", nargs=2, metavar=("KEY", "VALUE"))
    action.add_argument("--get-shared-config", metavar="KEY")
    parser.add_argument("--type", choices=("he_shared", "he_local"), default="he_shared")
    parser.add_argument("--force", action="store_true")
    from vdsm_hosted_engine.cli import deploy as deploy_cli

    deploy_cli.add_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="with --configure-host: show the diff only")
    parser.add_argument("--root", default="/", help="with --configure-host: configure the files below this root")
    parser.add_argument("--json", action="store_true", help="with --vm-status: oVirt's JSON shape")
    parser.add_argument("--mode", choices=("global", "local", "none"))
    parser.add_argument("--host-id", type=int)
    parser.add_argument("--force-cleanup", action="store_true")
    _common(parser)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=os.environ.get("HOSTED_ENGINE_CONF", config_.HOSTED_ENGINE_CONF))
    parser.add_argument("--socket", help="the daemon's Unix socket (default: <run_dir>/hosted-engine.sock)")
    parser.add_argument("--timeout", type=float, default=30.0, help="heart-beat window in seconds")
    parser.add_argument("--debug", action="store_true")


def _generic(argv: list[str]) -> int:
    from vdsm_hosted_engine.verbs.schema import Schema

    parser = argparse.ArgumentParser(
        prog="hosted-engine call",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="verbs (from vdsm-api-hosted-engine.yml; ? = optional):\n" + Schema.load().help(),
    )
    parser.add_argument("verb")
    parser.add_argument("params", nargs="*", metavar="name=value")
    _common(parser)
    args = parser.parse_args(argv)
    params = {}
    for item in args.params:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"{item!r} is not name=value")
        params[name] = value
    result = _call(args, args.verb, params)
    print(json.dumps(result, indent=4, sort_keys=True))
    return 0


def _run(argv: list[str]) -> int:
    if argv[:1] == ["call"]:
        return _generic(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.configure_host:
        return _configure_host(args)
    if args.connect_storage or args.disconnect_storage:
        from vdsm_hosted_engine.cli import storage_connection

        print((storage_connection.connect if args.connect_storage else storage_connection.disconnect)(args))
        return 0
    if args.deploy:
        from vdsm_hosted_engine.cli import deploy as deploy_cli

        return deploy_cli.run(args)
    if args.vm_status:
        status = _call(args, "getStatus")
        print(json.dumps(status, sort_keys=True) if args.json else render_text(status), end="\n" if args.json else "")
        return 0
    if args.set_maintenance:
        if not args.mode:
            parser.error("--set-maintenance needs --mode=global|local|none")
        _call(args, "setMaintenance", {"mode": args.mode})
        print(f"Success: maintenance mode is now {args.mode}")
        return 0
    if args.check_liveliness:
        result = _call(args, "checkLiveliness")
        print("Hosted Engine is up!" if result["up"] else "Hosted Engine is not up!")
        return 0 if result["up"] else 1
    if args.clean_metadata:
        params = {"force": args.force_cleanup}
        if args.host_id is not None:
            params["hostId"] = args.host_id
        else:
            params["hostId"] = config_.load_host_config(args.config).host_id
        _call(args, "cleanMetadata", params)
        print(f"Success: metadata of host {params['hostId']} cleaned")
        return 0
    if args.set_shared_config:
        key, value = args.set_shared_config
        result = _call(args, "setSharedConfig", {"key": key, "value": value, "type": args.type})
        print(f"Success: {key}={result['value']}" + (f" (version {result['version']})" if result["version"] else ""))
        return 0
    if args.get_shared_config:
        result = _call(args, "getSharedConfig", {"key": args.get_shared_config, "type": args.type})
        print(f"{result['key']} : {result['value']}, type : {args.type}")
        return 0
    if args.reinitialize_lockspace:
        _call(args, "reinitializeLockspace", {"force": args.force})
        print("Success: the lockspace was reinitialized; this host rejoins it")
        return 0
    if args.check_deployed:
        return _check_deployed(args)
    if args.console:
        conf = config_.load_host_config(args.config)
        os.execvp("virsh", ["virsh", "-c", conf.libvirt_uri, "console", conf.vmid or "HostedEngine"])
    if args.vm_migrate:
        return _vm_migrate(args)
    verb = {"vm_start": "startVM", "vm_shutdown": "shutdownVM", "vm_poweroff": "poweroffVM"}
    for attr, name in verb.items():
        if getattr(args, attr):
            _call(args, name)
            print(f"Success: {name} done")
            return 0
    parser.error("nothing to do")
    return 2


def _vm_migrate(args: argparse.Namespace, poll: float = 0.3, timeout: float = 300.0) -> int:
    """Ask for the live migration (the agent answers at once: refused, or the destination it started
    migrating to), then follow the agent until the migration is over (its state says how)."""
    target = _call(args, "migrateVM", {"hostId": args.host_id or 0})
    print(f"live-migrating the Engine VM to host {target}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        score = _call(args, "getScore")
        state, sentence = score["state"], score["sentence"].removeprefix("no action: ")
        if state in ("EngineDown", "LocalMaintenance"):  # it ran here when asked: it left
            print(f"Success: the Engine VM left this host ({sentence})")
            return 0
        if state != "EngineMigratingAway":
            print(f"Failed: {sentence}", file=sys.stderr)
            return 1
        time.sleep(poll)
    print(f"Failed: no outcome within {timeout:.0f} s; see hosted-engine --vm-status", file=sys.stderr)
    return 1


def _configure_host(args: argparse.Namespace) -> int:
    from vdsm_hosted_engine import host_setup

    changes = host_setup.plan(args.root)
    for change in changes:
        sys.stdout.write(change.diff())
    if not changes:
        print("libvirt is already configured for the Engine VM's sanlock lease: nothing to change")
    elif args.dry_run:
        print(f"dry run: {len(changes)} file(s) would change")
    else:
        host_setup.apply(changes)
        print(f"Success: changed {', '.join(c.path for c in changes)}; restart libvirtd to apply")
    for warning in host_setup.sanlock_warnings(args.root):
        print(f"warning: {warning}")
    ok, detail = host_setup.sanlock_answers()
    print("sanlock: the daemon answers" if ok else f"sanlock: the daemon does not answer ({detail}); start sanlock")
    return 0


def _check_deployed(args: argparse.Namespace) -> int:
    """Deployed = a valid local configuration naming an existing storage domain."""
    from vdsm_hosted_engine.storage.domain import StorageDomain

    try:
        conf = config_.load_host_config(args.config)
        StorageDomain.open(conf.domain_path)
    except HostedEngineError as e:
        print(f"Hosted Engine is not deployed: {' '.join(str(e).split())}")
        return 1
    print("Hosted Engine is deployed")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _run(argv)
    except HostedEngineError as e:
        if "--debug" in argv:
            raise
        print(f"Failed: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
