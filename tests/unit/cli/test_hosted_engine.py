"""`hosted-engine`: each command imports only what it needs, and parsing a command alone changes
nothing an admin sees (abbreviations, help, errors).

Start-up cost is checked by what a fresh process imported (sys.modules), not by timing it: the figures
are bench/cli.py's."""

import subprocess
import sys

import pytest

from vdsm_hosted_engine.cli import hosted_engine

VM_ID = "5c0a6f3e-9a53-4f0c-8a53-0a8c0c2ff1a1"

# What --vm-status must not load: libvirt, lxml and the deploy code (deploy's options), yaml and the
# verb schema, TLS, the storage code (the whiteboard codec, sanlock), the RPC server and its threads,
# shutil.
HEAVY = (
    "libvirt",
    "lxml",
    "yaml",
    "ssl",
    "sanlock",
    "threading",
    "concurrent",
    "vdsm_hosted_engine.deploy",
    "vdsm_hosted_engine.cli.deploy",
    "vdsm_hosted_engine.verbs",
    "vdsm_hosted_engine.storage",
    "vdsm_hosted_engine.rpc.server",
    "shutil",  # argparse's help width: bz2, lzma, fnmatch with it
)
# The storage connection's parser is part of reading hosted-engine.conf (`storage=`, `domainType=`):
# pure (re, dataclasses), no I/O; the package it sits in imports nothing.
LIGHT = ("vdsm_hosted_engine.storage", "vdsm_hosted_engine.storage.connection")

PROBE = """
import sys
from vdsm_hosted_engine.cli.hosted_engine import main
try:
    rc = main(sys.argv[1:])
finally:
    sys.stdout.write("\\n".join(sorted(sys.modules)))
"""


@pytest.fixture
def conf(tmp_path):
    """A valid hosted-engine.conf whose run_dir holds no daemon socket: every call fails to connect."""
    path = tmp_path / "hosted-engine.conf"
    path.write_text(f"host_id=1\nstorage={tmp_path}\nvmid={VM_ID}\nrun_dir={tmp_path}/run\n")
    return path


def modules_after(*args):
    run = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    assert "cannot reach the local vdsm-hosted-engine daemon" in run.stderr, run.stderr
    return set(run.stdout.split())


def heavy(modules):
    return sorted(m for m in modules if m not in LIGHT and any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_vm_status_imports_no_heavy_module(conf):
    modules = modules_after("--vm-status", "--config", str(conf))
    assert "vdsm_hosted_engine.rpc.client" in modules  # it did get as far as the call
    assert heavy(modules) == []


def test_vm_status_json_imports_no_heavy_module(conf):
    assert heavy(modules_after("--vm-status", "--json", "--config", str(conf))) == []


def test_generic_call_does_not_parse_the_schema(conf):
    modules = modules_after("call", "getStatus", "--config", str(conf))
    assert not {"yaml", "vdsm_hosted_engine.verbs.schema"} & modules


def test_a_command_alone_parses_as_with_the_whole_tree():
    parser, args = hosted_engine._parse(["--clean-metadata", "--host-id", "3", "--force-cleanup"])
    assert (args.clean_metadata, args.host_id, args.force_cleanup) == (True, 3, True)
    assert args.vm_status is None and args.deploy is None  # the other commands: not chosen
    assert "--deploy" not in parser.format_usage()  # built for that command alone


def test_abbreviated_command_still_works():
    _, args = hosted_engine._parse(["--vm-stat", "--js"])
    assert args.vm_status and args.json


def test_option_of_another_command_is_accepted_as_before():
    _, args = hosted_engine._parse(["--vm-status", "--mode", "global"])
    assert args.vm_status and args.mode == "global"


def test_two_commands_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        hosted_engine._parse(["--vm-status", "--vm-start"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_bad_value_is_refused_with_the_options_message(capsys):
    with pytest.raises(SystemExit):
        hosted_engine._parse(["--set-maintenance", "--mode", "sometimes"])
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err


def test_help_lists_every_command_and_deploys_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        hosted_engine._parse(["--vm-status", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--set-shared-config" in out and "--config-append" in out


def test_help_width_follows_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    assert hosted_engine._width() == 58
    monkeypatch.setenv("COLUMNS", "wide")
    assert hosted_engine._width() >= 1  # the terminal's, or argparse's 80 - 2 without one
