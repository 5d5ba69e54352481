"""Every scenario in tests/scenarios: golden event log line by line, and the invariants.

Goldens are written only by `python -m vdsm_hosted_engine.sim run DIR --update-golden` (or on a
scenario's first run from that command); review the diff before committing."""

import difflib
import pathlib

import pytest

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.sim import scenario

SCENARIOS = sorted(p for p in (pathlib.Path(__file__).parents[2] / "scenarios").iterdir() if p.is_dir())


@pytest.mark.parametrize("directory", SCENARIOS, ids=lambda p: p.name)
def test_scenario_matches_its_golden_log(directory):
    assert (directory / "README").read_text().startswith("Purpose:")
    golden = directory / "expected.log"
    assert golden.exists(), f"no golden log: run python -m vdsm_hosted_engine.sim run {directory} and review it"
    spec, commands = scenario.load(str(directory))
    result = scenario.run(spec, commands)
    assert result.violations == []
    actual = "\n".join(result.lines) + "\n"
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "expected", "actual"))
    assert actual == expected, diff


def test_scenarios_are_deterministic():
    spec, commands = scenario.load(str(SCENARIOS[0]))
    assert scenario.run(spec, commands).lines == scenario.run(spec, commands).lines


@pytest.mark.parametrize(
    "text, message",
    [
        ("x crash-host 1", "commands:1: 'x' is not a time in seconds"),
        ("10 explode 1", "commands:1: unknown command 'explode'"),
        ("# only a comment\n10", "commands:2: unknown command ''"),
    ],
)
def test_bad_command_files_are_refused_with_the_line(text, message):
    with pytest.raises(InvalidRequest, match=message):
        scenario.parse_commands(text)
