"""Who may call what: local callers everything; TLS certificates narrowed by common name."""

import pytest

from vdsm_hosted_engine.rpc.authorization import Policy, common_name

READ = frozenset({"HostedEngine.getStatus"})


@pytest.mark.parametrize(
    "policy, subject, method, permitted",
    [
        (Policy(None, READ), "anyone", "HostedEngine.setMaintenance", True),  # VDSM's trust by default
        (Policy(frozenset({"engine.lab"}), READ), None, "HostedEngine.setMaintenance", True),  # Unix socket
        (Policy(frozenset({"engine.lab"}), READ), "engine.lab", "HostedEngine.setMaintenance", True),
        (Policy(frozenset({"engine.lab"}), READ), "intruder.lab", "HostedEngine.getStatus", True),
        (Policy(frozenset({"engine.lab"}), READ), "intruder.lab", "HostedEngine.setMaintenance", False),
        (Policy(frozenset({"engine.lab"}), READ), "", "HostedEngine.setMaintenance", False),
    ],
)
def test_permits(policy, subject, method, permitted):
    assert policy.permits(subject, method) is permitted


def test_common_name_of_a_peer_certificate():
    cert = {"subject": ((("countryName", "US"),), (("organizationName", "lab"),), (("commonName", "host1.lab"),))}
    assert common_name(cert) == "host1.lab"
    assert common_name({}) == "" and common_name(None) == ""
