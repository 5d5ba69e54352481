"""The check on the final domxml before the Engine VM is created, and whether the lease hook is installed.

Given a domxml after the before_vm_start hooks ran, `lease_problems` names every way it differs from
"exactly one <lease> for hosted-engine:engine-vm on this domain's leases file at the lease's offset";
an empty list is the only answer that lets the runtime call createXML."""

import pytest

from vdsm_hosted_engine import constants
from vdsm_hosted_engine.hooks import lease_hook
from vdsm_hosted_engine.hooks.lease import LeaseSpec, inject, lease_problems
from vdsm_hosted_engine.storage.sanlock_resource import EngineVmLease

VM = "7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e"
PATH = "/d/ha_agent/hosted-engine.leases"
LEASE = LeaseSpec("hosted-engine", "engine-vm", PATH)


def lease_xml(lockspace="hosted-engine", key="engine-vm", path=PATH, offset="0"):
    target = "<target" + (f" path='{path}'" if path is not None else "")
    target += (f" offset='{offset}'" if offset is not None else "") + "/>"
    return f"<lease><lockspace>{lockspace}</lockspace><key>{key}</key>{target}</lease>"


def domxml(*devices):
    return f"<domain type='test'><uuid>{VM}</uuid><devices>{''.join(devices)}</devices></domain>"


def test_the_spec_names_the_domains_engine_vm_resource():
    spec = LeaseSpec.of(EngineVmLease(PATH))
    assert spec == LeaseSpec(constants.LOCKSPACE_NAME.decode(), constants.ENGINE_VM_RESOURCE.decode(), PATH, 0)
    assert spec.name == "hosted-engine:engine-vm"


def test_what_the_lease_hook_writes_passes():
    assert lease_problems(inject(domxml(), VM, LEASE), LEASE) == []


@pytest.mark.parametrize(
    "devices, problems",
    [
        pytest.param([lease_xml()], [], id="ours"),
        pytest.param([lease_xml(offset=None)], [], id="no-offset-is-offset-0-as-in-libvirt"),
        pytest.param([lease_xml(path="/d//ha_agent/./hosted-engine.leases")], [], id="same-path-unnormalised"),
        pytest.param(
            [lease_xml("other", "x", "/keep"), lease_xml()],
            ["the final domxml holds a <lease> for other:x besides hosted-engine:engine-vm"],
            id="another-lockspace-plus-ours",
        ),
        pytest.param([], ["the final domxml holds no <lease> for hosted-engine:engine-vm"], id="no-lease"),
        pytest.param(
            [lease_xml(), lease_xml()],
            ["the final domxml holds 2 <lease> elements for hosted-engine:engine-vm, not exactly one"],
            id="two-leases",
        ),
        pytest.param(
            [lease_xml(), lease_xml(path="/elsewhere/hosted-engine.leases")],
            ["the final domxml holds 2 <lease> elements for hosted-engine:engine-vm, not exactly one"],
            id="two-leases-different-targets",
        ),
        pytest.param(
            [lease_xml(lockspace="he")],
            ["the final domxml holds no <lease> for hosted-engine:engine-vm (only for he:engine-vm)"],
            id="wrong-lockspace",
        ),
        pytest.param(
            [lease_xml(key="other-vm")],
            ["the final domxml holds no <lease> for hosted-engine:engine-vm (only for hosted-engine:other-vm)"],
            id="wrong-key",
        ),
        pytest.param(
            [lease_xml("other", "x", "/keep")],
            ["the final domxml holds no <lease> for hosted-engine:engine-vm (only for other:x)"],
            id="only-another-lockspace",
        ),
        pytest.param(
            [lease_xml(path="/old/ha_agent/hosted-engine.leases")],
            [
                "the <lease> for hosted-engine:engine-vm names /old/ha_agent/hosted-engine.leases, "
                f"not this domain's {PATH}"
            ],
            id="wrong-path",
        ),
        pytest.param(
            [lease_xml(path=None)],
            ["the <lease> for hosted-engine:engine-vm has no target path"],
            id="no-path",
        ),
        pytest.param(
            [lease_xml(offset="1048576")],
            ["the <lease> for hosted-engine:engine-vm is at offset '1048576', not 0"],
            id="wrong-offset",
        ),
        pytest.param(
            [lease_xml(offset="zero")],
            ["the <lease> for hosted-engine:engine-vm is at offset 'zero', not 0"],
            id="offset-not-a-number",
        ),
        pytest.param(
            [lease_xml(path="/old/hosted-engine.leases", offset="512")],
            [
                f"the <lease> for hosted-engine:engine-vm names /old/hosted-engine.leases, not this domain's {PATH}",
                "the <lease> for hosted-engine:engine-vm is at offset '512', not 0",
            ],
            id="wrong-path-and-offset",
        ),
        pytest.param(
            ["<lease><lockspace>hosted-engine</lockspace><key>engine-vm</key></lease>"],
            ["the <lease> for hosted-engine:engine-vm has no <target>"],
            id="no-target",
        ),
    ],
)
def test_lease_problems(devices, problems):
    assert lease_problems(domxml(*devices), LEASE) == problems


def test_a_lease_outside_devices_does_not_count():
    """libvirt reads leases from <devices> only: one anywhere else protects nothing."""
    text = f"<domain><uuid>{VM}</uuid>{lease_xml()}<devices/></domain>"
    assert lease_problems(text, LEASE) == ["the final domxml holds no <lease> for hosted-engine:engine-vm"]


def test_the_offset_is_compared_with_the_leases_own():
    spec = LeaseSpec("hosted-engine", "engine-vm", PATH, offset=1048576)
    assert lease_problems(domxml(lease_xml(offset="1048576")), spec) == []
    assert lease_problems(domxml(lease_xml()), spec) == [
        "the <lease> for hosted-engine:engine-vm is at offset '0', not 1048576"
    ]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("<domain><devices>", "not well-formed XML"),
        ("", "not well-formed XML"),
        ("<network/>", "root is <network>"),
        ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "x">]><domain>&a;</domain>', "DTD or entity"),
    ],
)
def test_malformed_or_unsafe_domxml_is_a_problem_not_an_exception(text, reason):
    (problem,) = lease_problems(text, LEASE)
    assert problem.startswith("the final domxml cannot be checked: ") and reason in problem


# -- is the lease hook installed in a hooks directory? ---------------------------------------------


def install(hooks_dir, point="before_vm_start", name="50_hosted_engine", mode=0o755):
    (hooks_dir / point).mkdir(parents=True, exist_ok=True)
    script = hooks_dir / point / name
    script.write_text("#!/bin/sh\n")
    script.chmod(mode)
    return script


def test_the_installed_lease_hook_is_found(tmp_path):
    install(tmp_path, name="10_other")
    install(tmp_path)
    assert lease_hook.installation_problem(str(tmp_path)) is None


@pytest.mark.parametrize(
    "setup, reason",
    [
        (lambda d: None, "{d}/hooks does not exist"),
        (lambda d: (d / "hooks").mkdir(), "{d}/hooks/before_vm_start does not exist"),
        (lambda d: install(d / "hooks", name="10_other"), "{d}/hooks/before_vm_start has no 50_hosted_engine"),
        (
            lambda d: install(d / "hooks", point="after_vm_destroy"),
            "{d}/hooks/before_vm_start does not exist",
        ),
        (
            lambda d: install(d / "hooks", mode=0o644),
            "{d}/hooks/before_vm_start/50_hosted_engine is not an executable file",
        ),
    ],
    ids=["no-hooks-dir", "no-hook-point", "other-scripts-only", "other-point-only", "not-executable"],
)
def test_a_missing_lease_hook_is_one_sentence_naming_why(tmp_path, setup, reason):
    setup(tmp_path)
    hooks_dir = tmp_path / "hooks"
    problem = lease_hook.installation_problem(str(hooks_dir))
    assert problem == (
        f"the Engine VM's lease hook is not installed in hooks_dir {hooks_dir} ({reason.format(d=tmp_path)}), "
        "so the Engine VM would start without its sanlock lease: install vdsm-hook-hosted-engine there or point "
        "hooks_dir at it"
    )
