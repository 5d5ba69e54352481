"""Ctrl-C, a half-done deploy, and `--cleanup`, on real parts: the command as a process bound to its
own sanlock daemon, libvirt's test driver, qemu-img and our hooks.

Seen as a new admin: Ctrl-C while waiting for the Engine's health left everything (a traceback, the
VM running, the configuration written); the re-run refused; `--force` failed on the VM still defined
and claimed everything was removed; there was no cleanup command."""

import os
import signal
import subprocess
import sys

import pytest

from tests.integration.conftest import install_hooks
from tests.integration.deploy.test_deploy import ENGINE, UNUSED_CONF, answer_text, deployment
from vdsm_hosted_engine.deploy.cleanup import CleanupRefused, cleanup
from vdsm_hosted_engine.lab.sanlock_daemon import SanlockDaemon
from vdsm_hosted_engine.storage.domain import StorageDomain

NEVER_HEALTHY = "http://127.0.0.1:9/ovirt-engine/services/health"  # nothing listens on the discard port


def deploy_argv(tmp_path, answers, *extra):
    return [
        sys.executable, "-m", "vdsm_hosted_engine.cli.hosted_engine", "--deploy", f"--config-append={answers}",
        f"--conf-dir={tmp_path}/etc", f"--run-dir={tmp_path}/run", f"--hooks-dir={tmp_path}/hooks",
        "--libvirt-uri=test:///default", "--domain-type=test", "--health-timeout=60", "--allow-local-storage", *extra,
    ]  # fmt: skip


@pytest.fixture
def sanlock(tmp_path):
    daemon = SanlockDaemon(str(tmp_path / "sanlock"), "he-test-interrupt")
    daemon.start()
    yield daemon
    daemon.stop(timeout=3)


def answers_file(tmp_path, health):
    path = tmp_path / "answers.conf"
    path.write_text(answer_text(tmp_path, health))
    return path


def run_until(argv, env, line_wanted, sig):
    """Start deploy, send `sig` once it printed `line_wanted`; (returncode, stdout, stderr)."""
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        process.stdin.write("yes\n")
        process.stdin.close()
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line_wanted in line:
                process.send_signal(sig)
                break
        out, err = process.stdout.read(), process.stderr.read()
        return process.wait(timeout=120), "".join(seen) + out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def lockspaces(sanlock):
    status = subprocess.run(["sanlock", "client", "status"], env=sanlock.env, capture_output=True, text=True)
    return [line for line in status.stdout.splitlines() if line.startswith("s ")]


@pytest.mark.parametrize(
    "step, hold",
    [
        ("Joining the lockspace as host 1", None),  # sanlock's add_lockspace: seconds
        ("Starting the Engine VM", "sleep 60"),  # a slow before_vm_start hook holds the step
        ("Waiting for the Engine to be healthy", None),  # the health page never answers
    ],
)
def test_ctrl_c_at_a_step_undoes_what_deploy_did(tmp_path, monkeypatch, sanlock, step, hold):
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    if hold:
        slow = tmp_path / "hooks" / "before_vm_start" / "10_slow"
        slow.write_text(f"#!/bin/sh\n{hold}\n")
        slow.chmod(0o755)
    answers = answers_file(tmp_path, NEVER_HEALTHY)
    rc, out, err = run_until(deploy_argv(tmp_path, answers), sanlock.env, step, signal.SIGINT)
    assert rc == 130, out + err
    assert "Traceback" not in err
    # Joining takes seconds but may end before the signal lands: the next step is then interrupted.
    assert "interrupted at: " in err and "; what deploy had done was undone" in err
    if hold or step.startswith("Waiting"):
        assert f"interrupted at: {step};" in err
    assert "undoing: Creating the storage domain" in out
    assert os.listdir(tmp_path / "domain") == []
    assert not (tmp_path / "etc" / "hosted-engine.conf").exists() and not (tmp_path / "etc" / "vm.conf").exists()
    assert lockspaces(sanlock) == []
    assert f"--config-append={tmp_path}/etc/answers.conf reuses them" in err


def test_after_ctrl_c_the_same_deploy_runs_again_without_force(tmp_path, monkeypatch, sanlock, tmp_health):
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    rc, _out, err = run_until(
        deploy_argv(tmp_path, answers_file(tmp_path, NEVER_HEALTHY)),
        sanlock.env,
        "Waiting for the Engine to be healthy",
        signal.SIGINT,
    )
    assert rc == 130, err
    result = subprocess.run(
        deploy_argv(tmp_path, answers_file(tmp_path, tmp_health)),
        env=sanlock.env,
        input="yes\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"The Engine: https://{ENGINE}/ovirt-engine" in result.stdout


def test_a_half_done_deploy_is_refused_then_replaced_with_force_or_removed_with_cleanup(tmp_path, monkeypatch, sanlock):
    """Given a deploy killed (SIGKILL: nothing undone) while waiting for health, a new deploy refuses
    with what is left and how to remove it; --cleanup removes it; then deploy starts afresh."""
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    answers = answers_file(tmp_path, NEVER_HEALTHY)
    rc, _out, _err = run_until(
        deploy_argv(tmp_path, answers), sanlock.env, "Waiting for the Engine to be healthy", signal.SIGKILL
    )
    assert rc == -signal.SIGKILL
    assert len(lockspaces(sanlock)) == 1 and (tmp_path / "etc" / "hosted-engine.conf").exists()
    refused = subprocess.run(
        deploy_argv(tmp_path, answers), env=sanlock.env, input="yes\n", capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert (
        f"{tmp_path}/etc/hosted-engine.conf exists (an earlier deploy?): hosted-engine --cleanup removes it, "
        "deploy --force replaces it" in refused.stderr
    )
    assert "already holds a hosted-engine domain" in refused.stderr
    cleaned = subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.cli.hosted_engine", "--cleanup", f"--conf-dir={tmp_path}/etc"],
        env=sanlock.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"removed host id 1 in the lockspace of {tmp_path}/domain" in cleaned.stdout
    assert lockspaces(sanlock) == [] and os.listdir(tmp_path / "domain") == []
    assert sorted(os.listdir(tmp_path / "etc")) == ["answers.conf"]


def test_force_replaces_a_half_done_deploy(tmp_path, monkeypatch, sanlock, tmp_health):
    install_hooks(tmp_path, monkeypatch, ["before_vm_start"], UNUSED_CONF)
    rc, _out, _err = run_until(
        deploy_argv(tmp_path, answers_file(tmp_path, NEVER_HEALTHY)),
        sanlock.env,
        "Waiting for the Engine to be healthy",
        signal.SIGKILL,
    )
    assert rc == -signal.SIGKILL
    result = subprocess.run(
        deploy_argv(tmp_path, answers_file(tmp_path, tmp_health), "--force"),
        env=sanlock.env,
        input="yes\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Removing what an earlier deploy left on this host" in result.stdout
    assert f"removed {tmp_path}/etc/hosted-engine.conf" in result.stdout
    assert len(os.listdir(tmp_path / "domain" / "images")) == 1  # the earlier disk went with the domain


def test_cleanup_refuses_while_the_engine_runs_here_unless_forced(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    dep = deployment(tmp_path, tmp_health, monkeypatch)
    dep.run()
    try:
        with pytest.raises(CleanupRefused, match="the Engine VM \\(HostedEngine\\) runs on this host"):
            cleanup(str(tmp_path / "etc"), str(tmp_path / "run"), "test:///default")
        assert (tmp_path / "etc" / "hosted-engine.conf").exists() and dep.runtime._domain().isActive()
        result = cleanup(str(tmp_path / "etc"), str(tmp_path / "run"), "test:///default", force=True)
        assert result.left == [] and result.kept == []
        assert result.removed[0] == "the Engine VM HostedEngine in test:///default"
        assert os.listdir(tmp_path / "domain") == [] and not (tmp_path / "etc" / "vm.conf").exists()
    finally:
        if dep.runtime is not None:
            dep.runtime.destroy()
        if StorageDomain.exists_at(str(tmp_path / "domain")):
            StorageDomain.open(str(tmp_path / "domain")).lockspace().leave(1)


def test_cleanup_keeps_a_domain_another_host_joined_unless_forced(tmp_path, tmp_health, sanlock_admin, monkeypatch):
    """Given a deployment whose domain host 2 has joined (its whiteboard slot, written as that host
    would), cleanup removes this host's part only and says why the domain stays; --force removes it."""
    from vdsm_hosted_engine.storage import whiteboard

    dep = deployment(tmp_path, tmp_health, monkeypatch)
    dep.run()
    try:
        dep.runtime.destroy()
        domain = StorageDomain.open(str(tmp_path / "domain"))
        slot = whiteboard.HostSlot(host_id=2, timestamp=1, score=3400, engine_status={}, hostname="host2")
        with open(domain.metadata_path, "r+b") as f:  # host 2's own slot, as its agent writes it
            f.seek(2 * whiteboard.SLOT_SIZE)
            f.write(whiteboard.encode_host_slot(slot))
        result = cleanup(str(tmp_path / "etc"), str(tmp_path / "run"), "test:///default")
        assert result.kept == [f"the storage domain in {tmp_path}/domain: hosts 2 joined it (--force removes it)"]
        assert StorageDomain.exists_at(str(tmp_path / "domain")) and not domain.lockspace().holds(1)
        assert not (tmp_path / "etc" / "hosted-engine.conf").exists() and result.left == []
    finally:
        if StorageDomain.exists_at(str(tmp_path / "domain")):
            StorageDomain.open(str(tmp_path / "domain")).lockspace().leave(1)
