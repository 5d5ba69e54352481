"""The adapter VDSM's DynamicBridge loads: signatures, command_info and the envelope shapes."""

import inspect

import pytest

from vdsm_hosted_engine.errors import HostedEngineError
from vdsm_hosted_engine.observations import VmStatus
from vdsm_hosted_engine.verbs import api, vdsm_adapter
from vdsm_hosted_engine.verbs.schema import Schema

from .fake_backend import FakeBackend

SCHEMA = Schema.load()
DONE = {"code": 0, "message": "Done"}


@pytest.fixture
def fake_bridge():
    """The adapter over the real verbs on a FakeBackend, and a dispatcher that calls it exactly as
    VDSM's DynamicBridge does (Bridge.py `_dynamicMethod`): ctorArgs, positional arguments in schema
    order with the schema's defaults, the status code, then command_info's return member."""
    backend = FakeBackend()
    verbs = api.HostedEngine(backend, SCHEMA)

    def dispatch(verb, **argobj):
        spec = SCHEMA.verbs[f"HostedEngine.{verb}"]
        # ctorArgs is empty (a test below): the bridge's HostedEngine() forwards to the daemon; here
        # the forwarding goes to the verbs in this process instead.
        adapter = vdsm_adapter.HostedEngine(lambda name, params: getattr(verbs, name)(**params))
        # Bridge._get_args: a param with a default is always passed; one without only if given.
        args = [argobj.get(p.name, p.default) for p in spec.params if not p.required or p.name in argobj]
        result = getattr(adapter, verb)(*args)
        if result["status"]["code"]:
            return ("error", result["status"]["code"], result["status"]["message"])
        return result[vdsm_adapter.command_info[f"HostedEngine_{verb}"]["ret"]]

    return backend, dispatch


def test_one_method_per_verb_with_the_schemas_signature():
    public = {n for n, _ in inspect.getmembers(vdsm_adapter.HostedEngine, inspect.isfunction) if n[0] != "_"}
    assert public == {v.method for v in SCHEMA.verbs.values()}
    for verb in SCHEMA.verbs.values():
        parameters = list(inspect.signature(getattr(vdsm_adapter.HostedEngine, verb.method)).parameters.values())[1:]
        assert [p.name for p in parameters] == [p.name for p in verb.params], verb.name
        for mine, declared in zip(parameters, verb.params, strict=True):
            assert (mine.default is inspect.Parameter.empty) == declared.required, verb.name
            if not declared.required:
                assert mine.default == declared.default, verb.name
    assert vdsm_adapter.HostedEngine.ctorArgs == []


def test_command_info_names_the_return_member_of_every_verb():
    assert vdsm_adapter.command_info == {f"HostedEngine_{v.method}": {"ret": "result"} for v in SCHEMA.verbs.values()}


def test_success_envelope():
    adapter = vdsm_adapter.HostedEngine(lambda verb, params: {"verb": verb, "params": params})
    assert adapter.cleanMetadata("2", "false") == {
        "status": DONE,
        "result": {"verb": "cleanMetadata", "params": {"hostId": 2, "force": False}},
    }
    assert adapter.getStatus() == {"status": DONE, "result": {"verb": "getStatus", "params": {}}}


def test_a_refusal_is_our_code_and_message_unchanged(fake_bridge):
    backend, dispatch = fake_bridge
    assert dispatch("startVM") == (
        "error",
        9002,
        "HA manages the Engine VM: set global maintenance before starting or stopping it",
    )
    backend.vm = VmStatus.UP
    assert dispatch("migrateVM", hostId=1) == ("error", 9002, "the Engine VM runs on this host already")


def test_a_bad_argument_is_refused_before_anything_changes(fake_bridge):
    backend, dispatch = fake_bridge
    backend.global_maintenance = True
    assert dispatch("setMaintenance", mode="partial") == (
        "error",
        -32602,
        "HostedEngine.setMaintenance: parameter 'mode': 'partial' is not one of global, local, none",
    )
    assert dispatch("cleanMetadata", hostId="2", force="false")[:2] == ("error", 9002)  # not forced
    assert backend.global_maintenance and backend.cleaned == []


def test_values_reach_the_client_through_the_return_member(fake_bridge):
    backend, dispatch = fake_bridge
    assert dispatch("setMaintenance", mode="global") is True and backend.global_maintenance
    assert dispatch("checkLiveliness") == {"up": True, "host": 2}
    assert sorted(dispatch("getStatus")) == ["1", "2", "global_maintenance", "invalid_slots", "view_age"]
    assert dispatch("cleanMetadata", hostId=2, force="true") is True and backend.cleaned == [2]


def test_an_unreachable_daemon_is_one_error_naming_the_socket(tmp_path):
    path = str(tmp_path / "absent.sock")
    adapter = vdsm_adapter.HostedEngine(vdsm_adapter.daemon_call(path))
    status = adapter.getScore()["status"]
    assert status["code"] == HostedEngineError.code
    assert status["message"].startswith(f"the hosted-engine daemon does not answer on {path}: ")
