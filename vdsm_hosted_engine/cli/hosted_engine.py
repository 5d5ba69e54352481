"""`hosted-engine`: oVirt's options, over the wire protocol to the local daemon's Unix socket.

    hosted-engine --vm-status [--json]
    hosted-engine --set-maintenance --mode=global|local|none
    hosted-engine --vm-start | --vm-shutdown | --vm-poweroff        (global maintenance only)
    hosted-engine --vm-migrate [--host-id=N]                          (live, from the host running it)
    hosted-engine --check-liveliness
    hosted-engine --events [--follow] [--json]                        (this host's transitions and alerts)
    hosted-engine --clean-metadata [--host-id=N] [--force-cleanup]
    hosted-engine --set-shared-config KEY VALUE [--type=he_shared|he_local]
    hosted-engine --get-shared-config KEY [--type=he_shared|he_local]
    hosted-engine --reinitialize-lockspace [--force]
    hosted-engine --check-deployed                                    (rc 0 deployed, 1 not)
    hosted-engine --cleanup [--force]                 (remove this host's deployment; see cli/deploy.py)
    hosted-engine --configure-host [--dry-run] [--root=DIR]          (libvirt's sanlock lock manager)
    hosted-engine --connect-storage | --disconnect-storage            (mount/unmount hosted-engine.conf's storage)
    hosted-engine --console                                           (the Engine VM's serial console)
    hosted-engine call VERB [name=value ...]                         (any verb, vdsm-client style)

Errors: one line on stderr, exit 1 (traceback only with --debug). --check-liveliness exits 0 when the
Engine is up, 1 otherwise, as oVirt's.

Admins and monitoring run `--vm-status` in loops, so a command imports only what it needs: the
client, the config loader and the status text at the top; deploy's options and code (libvirt,
lxml), the verb schema (yaml) and the storage code only inside the commands that use them.
tests/unit/cli/test_hosted_engine.py keeps it so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from vdsm_hosted_engine import config as config_
from vdsm_hosted_engine.cli.status_text import render_text
from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.rpc.client import Client, daemon_socket


def _socket(args: argparse.Namespace) -> str:
    if args.socket:
        return args.socket
    conf = config_.load_host_config(args.config)
    return daemon_socket(conf.run_dir)


def _call(args: argparse.Namespace, verb: str, params: dict[str, Any] | None = None) -> Any:
    try:
        client = Client.unix(_socket(args), window=args.timeout)
    except OSError as e:
        raise HostedEngineError(f"cannot reach the local vdsm-hosted-engine daemon: {e.strerror or e}") from None
    try:
        return client.call(f"HostedEngine.{verb}", params or {})
    finally:
        client.close()


def event_line(event: dict[str, Any]) -> str:
    """One event for humans: UTC time, then `Old-New: sentence` or `ALERT: text`."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event["time"]))
    if event["kind"] == "alert":
        return f"{when}  ALERT: {event['detail']}"
    return f"{when}  {event['detail']}: {event['sentence']}"


def _events(args: argparse.Namespace) -> int:
    """The daemon's last transitions and alerts; with --follow, then each new one as it comes (the
    subscription is made before the list is read, and events already printed are skipped)."""
    try:
        client = Client.unix(_socket(args), window=args.timeout)
    except OSError as e:
        raise HostedEngineError(f"cannot reach the local vdsm-hosted-engine daemon: {e.strerror or e}") from None
    try:
        if args.follow:
            client.subscribe_events()
        events = client.call("HostedEngine.getEvents")["events"]
        for event in events:
            print(json.dumps(event, sort_keys=True) if args.json else event_line(event), flush=True)
        listed = events[-1]["number"] if events else 0
        while args.follow:
            message = client.next_event()
            event = message.get("params", {})
            # Two threads (the agent's, an alert's) may publish out of order: skip only what was listed.
            if str(message.get("method", "")).startswith("|hosted-engine|event|") and event.get("number", 0) > listed:
                print(json.dumps(event, sort_keys=True) if args.json else event_line(event), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return 0


# The commands (mutually exclusive flags) and the options, each declared once. A command lists the
# options it reads besides the common ones; `_parse` builds a parser of just that command when it
# can, so `--vm-status` does not pay for the whole tree (nor for deploy's options, whose module
# imports the deploy steps).
_SWITCHES = (
    "--vm-status",
    "--set-maintenance",
    "--vm-start",
    "--vm-shutdown",
    "--vm-poweroff",
    "--vm-migrate",
    "--check-liveliness",
    "--events",
    "--clean-metadata",
    "--reinitialize-lockspace",
    "--check-deployed",
    "--console",
    "--configure-host",
    "--deploy",
    "--cleanup",
    "--connect-storage",
    "--disconnect-storage",
)
_COMMANDS: dict[str, dict[str, Any]] = {
    **{flag: {"action": "store_true"} for flag in _SWITCHES},
    "--set-shared-config": {"nargs": 2, "metavar": ("KEY", "VALUE")},
    "--get-shared-config": {"metavar": "KEY"},
}
_OPTIONS: dict[str, dict[str, Any]] = {
    "--type": {"choices": ("he_shared", "he_local"), "default": "he_shared"},
    "--force": {"action": "store_true"},
    "--dry-run": {"action": "store_true", "help": "with --configure-host: show the diff only"},
    "--root": {"default": "/", "help": "with --configure-host: configure the files below this root"},
    "--json": {"action": "store_true", "help": "with --vm-status: oVirt's JSON shape; with --events"},
    "--follow": {"action": "store_true", "help": "with --events: go on printing new ones"},
    "--mode": {"choices": ("global", "local", "none")},
    "--host-id": {"type": int},
    "--force-cleanup": {"action": "store_true"},
}
_USES: dict[str, tuple[str, ...]] = {
    "--vm-status": ("--json",),
    "--set-maintenance": ("--mode",),
    "--vm-start": (),
    "--vm-shutdown": (),
    "--vm-poweroff": (),
    "--vm-migrate": ("--host-id",),
    "--check-liveliness": (),
    "--events": ("--json", "--follow"),
    "--clean-metadata": ("--host-id", "--force-cleanup"),
    "--set-shared-config": ("--type",),
    "--get-shared-config": ("--type",),
    "--reinitialize-lockspace": ("--force",),
    "--check-deployed": (),
    "--console": (),
    "--configure-host": ("--dry-run", "--root"),
}


def _width() -> int:
    """The help width argparse would use (shutil.get_terminal_size's rule), without importing shutil:
    with bz2, lzma and fnmatch that costs every `hosted-engine` process ~3 ms."""
    try:
        return int(os.environ["COLUMNS"]) - 2
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns - 2
    except (AttributeError, ValueError, OSError):
        return 78


def _formatter(base: type[argparse.HelpFormatter]) -> Callable[[str], argparse.HelpFormatter]:
    return lambda prog: base(prog, width=_width())


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command and option (deploy's included) or, given a command of `_USES`, that command alone:
    its flag, its options and the common ones; the other commands' flags are None in its namespace."""
    parser = argparse.ArgumentParser(
        prog="hosted-engine",
        description="manage the self-hosted Engine",
        formatter_class=_formatter(argparse.HelpFormatter),
    )
    action = parser.add_mutually_exclusive_group(required=True)
    for flag in _COMMANDS if command is None else (command,):
        action.add_argument(flag, **_COMMANDS[flag])
    for option in _OPTIONS if command is None else _USES[command]:
        parser.add_argument(option, **_OPTIONS[option])
    if command is None:
        from vdsm_hosted_engine.cli import deploy as deploy_cli

        deploy_cli.add_arguments(parser)
    else:
        parser.set_defaults(**{flag[2:].replace("-", "_"): None for flag in _COMMANDS if flag != command})
    _common(parser)
    return parser


def _parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """A command of `_USES` spelled out in full parses with its own parser; anything else (help,
    abbreviations, --deploy, mistakes) with the whole tree, which also words the errors."""
    command = next((arg for arg in argv if arg in _USES), None)
    if command is not None and not {"-h", "--help"}.intersection(argv):
        parser = _parser(command)
        args, rest = parser.parse_known_args(argv)
        if not rest:
            return parser, args
    parser = _parser()
    return parser, parser.parse_args(argv)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=os.environ.get("HOSTED_ENGINE_CONF", config_.HOSTED_ENGINE_CONF))
    parser.add_argument("--socket", help="the daemon's Unix socket (default: <run_dir>/hosted-engine.sock)")
    parser.add_argument("--timeout", type=float, default=30.0, help="heart-beat window in seconds")
    parser.add_argument("--debug", action="store_true")


def _generic(argv: list[str]) -> int:
    epilog = None
    if {"-h", "--help"}.intersection(argv):  # the schema (yaml) is parsed for the help only; the server checks
        from vdsm_hosted_engine.verbs.schema import Schema

        epilog = "verbs (from vdsm-api-hosted-engine.yml; ? = optional):\n" + Schema.load().help()
    parser = argparse.ArgumentParser(
        prog="hosted-engine call", formatter_class=_formatter(argparse.RawDescriptionHelpFormatter), epilog=epilog
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
    parser, args = _parse(argv)
    if args.configure_host:
        return _configure_host(args)
    if args.connect_storage or args.disconnect_storage:
        from vdsm_hosted_engine.cli import storage_connection

        print((storage_connection.connect if args.connect_storage else storage_connection.disconnect)(args))
        return 0
    if args.deploy:
        from vdsm_hosted_engine.cli import deploy as deploy_cli

        return deploy_cli.run(args)
    if args.events:
        return _events(args)
    if args.cleanup:
        from vdsm_hosted_engine.cli import deploy as deploy_cli

        return deploy_cli.cleanup(args)
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
