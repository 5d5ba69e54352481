"""Error codes: one per class, outside VDSM's codes, each documented in the verb schema."""

import yaml

from vdsm_hosted_engine import errors
from vdsm_hosted_engine.ha.fsm import IllegalTransition
from vdsm_hosted_engine.rpc.jsonrpc import InvalidParams, MethodNotFound
from vdsm_hosted_engine.verbs.schema import SCHEMA_FILE
from vdsm_hosted_engine.virt.hooks import HookError
from vdsm_hosted_engine.virt.runtime import VmError
from vdsm_hosted_engine.virt.xml import BadDomxml

# Every error class that can answer a verb (the modules above define the ones outside errors.py).
WIRE_ERRORS = [IllegalTransition, HookError, VmError, BadDomxml]
JSON_RPC = {MethodNotFound, InvalidParams}  # JSON-RPC's own codes, as VDSM's yajsonrpc uses them


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _wire_classes():
    return [errors.HostedEngineError, *(c for c in _all_subclasses(errors.HostedEngineError) if "code" in vars(c))]


def _documented_codes():
    from importlib import resources

    text = resources.files("vdsm_hosted_engine.verbs").joinpath(SCHEMA_FILE).read_text()
    return set(yaml.safe_load(text)["types"]["HostedEngineErrorCode"]["values"])


def test_every_class_that_names_a_code_has_its_own():
    classes = _wire_classes()
    assert set(WIRE_ERRORS) <= set(classes)
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), sorted(codes)


def test_codes_are_outside_vdsm_and_engine_ranges():
    """VDSM uses 0-4900 (common, storage, gluster exception.py); the Engine keeps 5000 and up."""
    for cls in _wire_classes():
        if cls in JSON_RPC or cls.code < 0:
            assert -32700 <= cls.code <= -32600, cls
        else:
            assert 9000 <= cls.code <= 9999, cls


def test_every_code_is_documented_in_the_schema_and_nothing_else():
    ours = {c.code for c in _wire_classes() if 9000 <= c.code <= 9999}
    assert _documented_codes() == ours


def test_messages_are_unchanged():
    assert str(errors.InvalidRequest("bad host id")) == "bad host id"
    assert str(errors.HostIdNotHeld(3)) == ("sanlock inq_lockspace failed: this host does not hold host id 3 (errno 0)")
    assert errors.CorruptBlock(4, "bad crc").message == "slot 4: bad crc"
