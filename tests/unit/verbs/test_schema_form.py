"""The schema files in VDSM's own form: the rules VDSM's tools and strict mode rely on that can be
checked without VDSM's code (its `schemavalidation_test.py`, `vdsmapi.py`, `schema_to_html.py`)."""

import re
from importlib import resources

import pytest
import yaml

from vdsm_hosted_engine.daemon import STATUS_EVENT
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
    assert list(events) == [STATUS_EVENT + "|"]  # VDSM's form: the event's id after the last | is cut
    params = {p["name"]: p for p in events[STATUS_EVENT + "|"]["params"]}
    assert set(params) == {"notify_time", "hostId", "state", "score", "sentence"}
    assert params["state"]["type"] is event_types["AgentState"]
    assert event_types["AgentState"] == api_types["AgentState"]
    assert list(api_types["AgentState"]["values"]) == [s.value for s in State]
