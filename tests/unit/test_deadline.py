"""Calls with a deadline: a hung call fails its caller in time and blocks only its own kind."""

import threading

import pytest

from vdsm_hosted_engine.deadline import CallHung, Deadlines
from vdsm_hosted_engine.errors import StorageError

pytestmark = pytest.mark.unit


def test_a_call_that_returns_in_time_gives_its_value_or_its_error():
    deadlines = Deadlines()
    assert deadlines.call("read", 5, lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        deadlines.call("read", 5, lambda: 1 / 0)
    assert deadlines.call("read", 5, lambda: "again") == "again"


def test_a_hung_call_fails_in_time_and_its_kind_fails_at_once_until_it_returns():
    deadlines = Deadlines()
    release = threading.Event()
    with pytest.raises(CallHung, match="read has not returned for 0 s") as hung:
        deadlines.call("read", 0.05, release.wait)
    assert isinstance(hung.value, StorageError)
    ran = []
    with pytest.raises(CallHung):
        deadlines.call("read", 5, lambda: ran.append(1))  # not even started: no thread pile-up
    assert ran == []
    assert deadlines.call("write", 5, lambda: "other kinds go on") == "other kinds go on"
    release.set()
    for _ in range(100):  # the stuck call's thread clears its mark as it returns
        try:
            assert deadlines.call("read", 5, lambda: "free again") == "free again"
            break
        except CallHung:
            threading.Event().wait(0.01)
    else:
        pytest.fail("the kind never became free after the hung call returned")


def test_another_threads_call_returning_does_not_clear_a_hung_calls_mark():
    """The RPC thread and the agent share the env's deadlines: a call of the same kind that was
    already running and returns must not make the kind look free while the late call still hangs."""
    deadlines = Deadlines()
    slow, stuck = threading.Event(), threading.Event()
    answers = []
    other = threading.Thread(target=lambda: answers.append(deadlines.call("read", 30, lambda: slow.wait(30))))
    other.start()
    with pytest.raises(CallHung):
        deadlines.call("read", 0.05, stuck.wait)
    slow.set()
    other.join(10)
    assert answers == [True]
    with pytest.raises(CallHung):  # the late call is still hung: its kind still fails at once
        deadlines.call("read", 5, lambda: "not run")
    stuck.set()
