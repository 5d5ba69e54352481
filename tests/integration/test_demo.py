"""`make demo` (the README's main command) runs to the end and shows the takeover at sanlock's floor."""

import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_shows_the_lease_taken_over_after_a_crash():
    result = subprocess.run(
        [sys.executable, "-m", "vdsm_hosted_engine.cli.storage_demo"], capture_output=True, text=True, timeout=400
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "host 2 tries to take it: refused (LeaseHeldElsewhere" in out
    assert "host 2 sees host 1 as FAIL" in out and "host 2 sees host 1 as DEAD" in out
    taken = re.search(r"host 2 took the engine-vm lease (\d+\.\d) s after the crash \(floor 68 s\)", out)
    assert taken, out
    assert float(taken.group(1)) >= 66  # never before sanlock's host_dead (less one renewal interval)
    assert "owners now: [2]" in out
    assert out.rstrip().endswith("stopped every process the demo started")
