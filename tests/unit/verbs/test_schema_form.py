"""The schema files in VDSM's own form: the rules VDSM's tools and strict mode rely on that can be
checked without VDSM's code (its `schemavalidation_test.py`, `vdsmapi.py`, `schema_to_html.py`)."""

import re
from importlib import resources

import pytest
import yaml

from vdsm_hosted_engine.daemon import NOTIFICATION_EVENT, STATUS_EVENT
from vdsm_hosted_engine.ha.fsm import State
from vdsm_hosted_engine.verbs.schema import SCHEMA_FILE

EVENTS_FILE = "vdsm-events-hosted-engine.yml"
FILES = [SCHEMA_FILE, EVENTS_FILE]
PRIMITIVES = {"boolean", "float", "int", "long", "ulong", "string", "uint"}  # vdsmapi.PRIMITIVE_TYPES
KINDS = {"object", "enum", "map", "alias", "union"}


def _text(name):
    return resources.files("vdsm_hosted_engine.verbs").joinpath(name).read_text()


def _entries(name):
    """(types, verbs or events) of one file, aliases resolved as VDSM's pickle holds them."""
    data = yaml.safe_load(_text(name))
    return data.pop("types"), data


def _type_uses(types, entries):
    """(where, type) of every param, property, return and map key/value type."""
    for name, verb in entries.items():
        for param in verb.get("params") or []:
            yield f"{name}: param {param['name']}", param["type"]
        if "return" in verb:
            yield f"{name}: return", verb["return"]["type"]
    for name, spec in types.items():
        for prop in spec.get("properties") or []:
            yield f"{name}: property {prop['name']}", prop["type"]
        for key in ("key-type", "value-type", "sourcetype"):
            if key in spec:
                yield f"{name}: {key}", spec[key]


@pytest.mark.parametrize("name", FILES)
def test_lines_fit_80_columns_without_tabs(name):
    for number, line in enumerate(_text(name).splitlines(), 1):
        assert len(line) <= 80 and "\t" not in line, f"{name}:{number}: {line}"


@pytest.mark.parametrize("name", FILES)
def test_every_named_type_has_its_anchor_and_name(name):
    text = _text(name)
    types, _ = _entries(name)
    for type_name, spec in types.items():
        assert re.search(rf"^    {type_name}: &{type_name}$", text, re.M), f"{type_name}: no anchor"
        assert spec["name"] == type_name and spec["type"] in KINDS, type_name
        assert spec["description"].strip(), type_name


@pytest.mark.parametrize("name", FILES)
def test_a_type_is_a_primitive_or_an_alias_never_a_name_or_a_bare_object(name):
    """A type named by string makes strict mode refuse every call ("Unexpected issue with request
    type verification") and schema_to_html.py crash in filter_types; `type: object` outside a
    named type cannot be verified (it has no properties)."""
    types, entries = _entries(name)
    for where, used in _type_uses(types, entries):
        element = used[0] if isinstance(used, list) else used
        if isinstance(element, dict):
            assert element["name"] in types, where
        else:
            assert element in PRIMITIVES, f"{where}: {element!r} is neither a primitive nor an alias"


def test_every_verb_is_documented_and_declares_its_return():
    _, verbs = _entries(SCHEMA_FILE)
    for name, verb in verbs.items():
        assert name.startswith("HostedEngine.") and verb["added"] and verb["description"].strip(), name
        for param in verb["params"]:
            assert param["description"].strip(), f"{name}: {param['name']}"
        assert verb["return"]["description"].strip() and verb["return"]["type"], name


def test_every_type_member_and_enum_value_is_documented():
    for name in FILES:
        types, _ = _entries(name)
        for type_name, spec in types.items():
            for prop in spec.get("properties") or []:
                assert prop["description"].strip(), f"{type_name}.{prop['name']}"
            for value, meaning in (spec.get("values") or {}).items():
                assert str(meaning).strip(), f"{type_name}: {value}"


def test_the_status_event_is_declared_with_the_agents_states():
    api_types, _ = _entries(SCHEMA_FILE)
    event_types, events = _entries(EVENTS_FILE)
    # VDSM's form: the event's id after the last | is cut
    assert list(events) == [STATUS_EVENT, NOTIFICATION_EVENT]
    params = {p["name"]: p for p in events[STATUS_EVENT]["params"]}
    assert set(params) == {"notify_time", "hostId", "state", "score", "sentence"}
    assert params["state"]["type"] is event_types["AgentState"]
    assert event_types["AgentState"] == api_types["AgentState"]
    assert list(api_types["AgentState"]["values"]) == [s.value for s in State]


# -- answers against declared returns, by the rules of VDSM's strict response verification --------

CHECKS = {
    "boolean": lambda v: isinstance(v, bool),
    "float": lambda v: isinstance(v, float),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "uint": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "string": lambda v: isinstance(v, str),
}


def conforms(spec, value, where):
    """Assert `value` is of the schema type `spec` (vdsmapi.py's `_verify_type`, a little stricter:
    bool is no int, and `any_string` members are checked instead of skipped)."""
    if isinstance(spec, list):
        assert isinstance(value, list | tuple), where
        for index, item in enumerate(value):
            conforms(spec[0], item, f"{where}[{index}]")
        return
    if isinstance(spec, str):
        assert CHECKS[spec](value), f"{where}: {value!r} is not {spec}"
        return
    kind = spec["type"]
    if kind == "enum":
        assert value in spec["values"], f"{where}: {value!r} not in {spec['name']}"
    elif kind == "map":
        assert isinstance(value, dict), where
        for key, item in value.items():
            conforms(spec["key-type"], key, f"{where} key")
            conforms(spec["value-type"], item, f"{where}[{key!r}]")
    else:
        assert kind == "object" and isinstance(value, dict), f"{where}: {value!r}"
        props = {p["name"]: p for p in spec["properties"]}
        for key in set(value) - set(props):
            assert "any_string" in props, f"{where}: {key!r} is not a member of {spec['name']}"
            conforms(props["any_string"]["type"], value[key], f"{where}[{key!r}]")
        for name, prop in props.items():
            if name == "any_string" or prop.get("defaultvalue") == "no-default":
                continue
            if "defaultvalue" in prop and value.get(name, prop["defaultvalue"]) in (None, prop["defaultvalue"]):
                continue
            assert name in value, f"{where}: member {name!r} is missing"
            conforms(prop["type"], value[name], f"{where}.{name}")


def _daemon_like_backend(tmp_path):
    """The FakeBackend answering the way the daemon does (the real broker's status shape)."""
    from vdsm_hosted_engine.broker.base import Monitor
    from vdsm_hosted_engine.broker.broker import Broker
    from vdsm_hosted_engine.storage.shared_config import SharedConfig
    from vdsm_hosted_engine.virt.domxml import VmConfig

    from .fake_backend import FakeBackend

    class Fixed(Monitor):
        def __init__(self, name, value):
            super().__init__(interval=10.0)
            self.name, self.value = name, value

        def probe(self):
            if isinstance(self.value, Exception):
                raise self.value
            return self.value

    broker = Broker(
        [
            Fixed("network", 1.0),
            Fixed("mem-free", 8192),
            Fixed("engine-health", {"vm": "up", "health": "good", "detail": "Up"}),
            Fixed("storage", OSError("EIO")),
            Fixed("mgmt-bridge", True),
        ]
    )
    for name in ("network", "mem-free", "engine-health", "storage"):
        broker.probe_once(name)  # mgmt-bridge: no result yet
    backend = FakeBackend()
    backend.agent_status = lambda: {"hostId": 1, "state": "EngineDown", "score": 3400, "sentence": "no action"}
    backend.monitor_status = broker.status
    backend.vm_config = lambda: VmConfig("7d2b9a3c-6c3e-4ac5-bd6c-1d1b7c5b2b6e", memory_mib=4096, vcpus=2)
    backend.vm_cpu_seconds = lambda: 12.5
    backend.spare_count = lambda: 1
    backend.shared_config = lambda: SharedConfig(str(tmp_path / "shared.conf"))
    backend.local_config = lambda key, value=None: value or "x"
    backend.join_host = lambda storage, hostname: 3
    backend.reinitialize_lockspace = lambda: None
    return backend


def test_every_verbs_answer_conforms_to_its_declared_return(tmp_path):
    from vdsm_hosted_engine.observations import VmStatus
    from vdsm_hosted_engine.storage.sanlock_lockspace import Liveness
    from vdsm_hosted_engine.verbs.api import HostedEngine
    from vdsm_hosted_engine.verbs.schema import Schema

    _, verbs = _entries(SCHEMA_FILE)
    backend = _daemon_like_backend(tmp_path)
    api = HostedEngine(backend, Schema.load())
    calls = [
        ("getStatus", {}),
        ("getMonitorStatus", {}),
        ("getScore", {}),
        ("getEvents", {}),
        ("checkLiveliness", {}),
        ("getFailoverCapacity", {}),
        ("getResourceUsage", {}),
        ("setSharedConfig", {"key": "k", "value": "v"}),
        ("getSharedConfig", {"key": "k"}),
        ("getSharedConfig", {"key": "k", "type": "he_local"}),
        ("joinHost", {"storage": "/x"}),
        ("setMaintenance", {"mode": "global"}),  # from here on in global maintenance
        ("startVM", {}),
        ("shutdownVM", {}),
        ("poweroffVM", {}),
        ("cleanMetadata", {"hostId": 2, "force": True}),
        ("vmStateChanged", {}),
        ("setMaintenance", {"mode": "none"}),
    ]
    for verb, params in calls:
        conforms(verbs[f"HostedEngine.{verb}"]["return"]["type"], getattr(api, verb)(**params), verb)
    backend.live = {1: Liveness.LIVE}
    backend.global_maintenance = True
    conforms(verbs["HostedEngine.reinitializeLockspace"]["return"]["type"], api.reinitializeLockspace(), "reinit")
    backend.global_maintenance, backend.vm = False, VmStatus.UP
    conforms(verbs["HostedEngine.migrateVM"]["return"]["type"], api.migrateVM(), "migrateVM")
    backend.vm, backend.live = VmStatus.DOWN, {}  # nobody runs it: nulls where the schema allows them
    for verb in ("checkLiveliness", "getFailoverCapacity", "getResourceUsage"):
        conforms(verbs[f"HostedEngine.{verb}"]["return"]["type"], getattr(api, verb)(), verb)
    assert {v for v, _ in calls} | {"reinitializeLockspace", "migrateVM"} == {n.split(".")[1] for n in verbs}


def test_every_read_verb_and_only_those_is_open_to_read_only_certificates():
    """getEvents was left out of the read-only verbs (a reader's certificate got 9005 for it)."""
    from vdsm_hosted_engine.daemon import READ_ONLY_VERBS

    _, verbs = _entries(SCHEMA_FILE)
    readers = {name for name in verbs if name.split(".")[1].startswith(("get", "check"))}
    assert readers == READ_ONLY_VERBS
