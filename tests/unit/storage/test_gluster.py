"""The GlusterFS volume check: the ping-timeout / io_timeout rule and the volume shape and options."""

import dataclasses
import pathlib

import pytest

from vdsm_hosted_engine.errors import StorageUnavailable
from vdsm_hosted_engine.storage.gluster import (
    Volume,
    max_ping_timeout,
    min_io_timeout,
    parse_volume_info,
    read_volume,
    timing_problem,
    volume_problems,
)

pytestmark = pytest.mark.unit

DATA = pathlib.Path(__file__).parents[2] / "data" / "gluster"


def good_volume(**changes):
    volume = parse_volume_info((DATA / "volume-info-engine.xml").read_text(), "engine")
    return dataclasses.replace(volume, **changes)


def with_options(**options):
    volume = good_volume()
    merged = dict(volume.options)
    for key, value in options.items():
        name = key.replace("__", ".").replace("_", "-")
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return dataclasses.replace(volume, options=merged)


@pytest.mark.parametrize(
    "io_timeout, ping_timeout, safe, measured",
    [
        # the prototype's runs (FINDINGS.md): healthy hosts' lockspaces
        (10, 10, True, "fine: stall 17-19 s of 80 s"),
        (1, 10, False, "both healthy hosts lost their lockspace: stall 10-12 s of 8 s"),
        (1, 3, False, "survived with a warning at 7 of 8 s: too close"),
        # the virt group's ping-timeout 20 with sanlock's default io_timeout 10
        (10, 20, True, ""),
        (10, 30, True, "the largest safe at io 10"),
        (10, 31, False, ""),
        (10, 42, False, "gluster's default when unset"),
        (5, 10, True, "the lab"),
        (5, 11, False, ""),
    ],
)
def test_the_timing_rule_against_the_prototypes_measurements(io_timeout, ping_timeout, safe, measured):
    assert (timing_problem(ping_timeout, io_timeout) is None) is safe


@pytest.mark.parametrize("io_timeout", range(1, 61))
def test_the_limits_agree(io_timeout):
    limit = max_ping_timeout(io_timeout)
    if limit >= 1:
        assert timing_problem(limit, io_timeout) is None
        assert min_io_timeout(limit) <= io_timeout
    assert timing_problem(limit + 1, io_timeout) is not None


def test_the_sentence_a_user_sees_for_an_unsafe_pair():
    assert timing_problem(20, 5) == (
        "network.ping-timeout 20 is unsafe with sanlock io_timeout 5: one lost peer stalls the other hosts' I/O "
        "for up to 30 s, more than half of sanlock's 40 s renewal limit, and every host would lose its lockspace; "
        "set network.ping-timeout to at most 10 (gluster volume set VOLUME network.ping-timeout 10) or io_timeout "
        "to at least 8"
    )


def test_an_io_timeout_too_short_for_gluster_says_which_to_use():
    assert timing_problem(10, 1) == (
        "sanlock io_timeout 1 is too short for any GlusterFS volume (one lost peer stalls the others' I/O for "
        "ping-timeout + up to 10 s, and sanlock gives up after 8 s): set io_timeout to at least 5 for "
        "network.ping-timeout 10"
    )


def test_ping_timeout_zero_is_refused():
    assert timing_problem(0, 10).startswith("network.ping-timeout 0 disables gluster's ping")


def test_a_good_volume_passes():
    volume = good_volume()
    assert volume == Volume(
        "engine",
        "Started",
        3,
        0,
        ("g1:/bricks/engine", "g2:/bricks/engine", "g3:/bricks/engine"),
        volume.options,
    )
    assert volume_problems(volume, 10) == []
    assert volume_problems(good_volume(arbiter=1), 10) == []


@pytest.mark.parametrize(
    "volume, problem",
    [
        (
            good_volume(replica=2, bricks=("g1:/b", "g2:/b")),
            "volume engine is replica 2 with 2 bricks: hosted-engine needs replica 3 (or replica 3 arbiter 1) "
            "with one brick per host, so losing one host keeps quorum",
        ),
        (good_volume(status="Stopped"), "volume engine is Stopped: start it (gluster volume start engine)"),
        (
            with_options(performance__strict_o_direct="off", network__remote_dio="enable"),
            "volume engine lacks the virt group's performance.strict-o-direct, network.remote-dio: set them "
            "(gluster volume set engine group virt)",
        ),
        (
            with_options(storage__owner_uid=None),
            "volume engine has storage.owner-uid unset: set it to 36 (gluster volume set engine storage.owner-uid 36)",
        ),
        (with_options(network__ping_timeout=None), timing_problem(42, 10)),
    ],
)
def test_each_problem_is_one_sentence_saying_what_to_set(volume, problem):
    assert volume_problems(volume, 10) == [problem]


@pytest.mark.parametrize(
    "xml_text, reason",
    [
        ("not xml", "gluster volume info engine: not gluster's XML"),
        (
            "<cliOutput><opRet>-1</opRet><opErrno>30800</opErrno><opErrstr>Volume engine does not exist</opErrstr>"
            "</cliOutput>",
            "gluster volume info engine failed: Volume engine does not exist",
        ),
        (
            "<cliOutput><opRet>0</opRet><volInfo><volumes><count>0</count></volumes></volInfo></cliOutput>",
            "gluster volume info: there is no volume engine",
        ),
    ],
)
def test_bad_gluster_answers_are_storage_errors(xml_text, reason):
    with pytest.raises(StorageUnavailable) as e:
        parse_volume_info(xml_text, "engine")
    assert str(e.value).startswith(reason)


def test_the_labs_volume_as_gluster_10_reports_it_passes_at_the_labs_io_timeout():
    """`gluster --xml volume info he` captured from `hosted-engine-lab up --storage=gluster`."""
    volume = parse_volume_info((DATA / "volume-info-lab.xml").read_text(), "he")
    assert (volume.replica, volume.arbiter, len(volume.bricks), volume.ping_timeout) == (3, 0, 3, 10)
    assert volume_problems(volume, 5) == []
    assert volume_problems(volume, 1) == [timing_problem(10, 1)]


def test_without_the_gluster_cli_the_check_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no gluster binary on it
    with pytest.raises(StorageUnavailable, match=r"install the gluster CLI \(glusterfs-cli\)"):
        read_volume("engine", "g1")
